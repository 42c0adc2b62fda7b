"""Multi-label ranking metrics: average precision per class, MAP, micro AP, file-level MAP.

    ap = average_precision(scores, targets)        # (n_classes,), NaN where a class has no positive
    m = evaluate_scores(scores, targets, file_ids) # {"map": ..., "micro_ap": ..., "file_map": ...}

Average precision is the one scikit-learn's `average_precision_score` computes (no interpolation):
AP = sum_k (R_k - R_{k-1}) P_k over the distinct score thresholds k, from the highest down, so tied
scores enter together. MAP is the macro mean over the classes with at least one positive in the
set (docs/design.md, decision 9): a class absent from a set has no defined AP and is left out, not
counted as 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Average precision of each column.

    scores   (n_items, n_classes) float, higher = more likely positive (logits or probabilities)
    targets  (n_items, n_classes) 0/1 (values > 0.5 count as positive)
    returns  (n_classes,) float64; NaN for a class with no positive item

    Vectorised over classes: with each column sorted by decreasing score, every positive item j
    contributes P(end of j's tie group) / n_positive, which is the sum over thresholds above.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) > 0.5
    if scores.ndim == 1:
        return average_precision(scores[:, None], targets.reshape(-1, 1))
    if scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} differ in shape")
    n, c = scores.shape
    if n == 0:
        return np.full(c, np.nan)
    order = np.argsort(-scores, axis=0, kind="stable")  # (n, c)
    sorted_scores = np.take_along_axis(scores, order, axis=0)
    sorted_pos = np.take_along_axis(targets, order, axis=0).astype(np.float64)
    true_pos = np.cumsum(sorted_pos, axis=0)  # (n, c): positives ranked at or above each position
    precision = true_pos / np.arange(1, n + 1)[:, None]
    # Index of the last item of each item's tie group: a threshold admits a whole group at once.
    is_group_end = np.ones((n, c), dtype=bool)
    is_group_end[:-1] = sorted_scores[1:] != sorted_scores[:-1]
    end = np.where(is_group_end, np.arange(n)[:, None], n - 1)
    end = np.minimum.accumulate(end[::-1], axis=0)[::-1]  # nearest group end at or below
    n_pos = true_pos[-1]
    gathered = np.take_along_axis(precision, end, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (sorted_pos * gathered).sum(axis=0) / n_pos
    ap[n_pos == 0] = np.nan
    return ap


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Macro MAP over the classes with at least one positive; NaN if no class has one."""
    ap = average_precision(scores, targets)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")


def micro_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of all (item, class) pairs pooled: frequent classes weigh more than in MAP."""
    return float(average_precision(np.ravel(scores), np.ravel(targets))[0])


def max_per_file(
    values: np.ndarray, file_ids: np.ndarray, n_files: int | None = None
) -> np.ndarray:
    """Max-aggregate window rows `(n_windows, n_classes)` into file rows `(n_files, n_classes)`.

    A file is as likely to hold a species as its most confident window (and, for targets, holds it
    if any window does).
    """
    values = np.asarray(values, dtype=np.float64)
    file_ids = np.asarray(file_ids, dtype=np.int64)
    n_files = int(file_ids.max()) + 1 if n_files is None else n_files
    out = np.full((n_files, values.shape[1]), -np.inf)
    np.maximum.at(out, file_ids, values)
    return out


@dataclass(frozen=True)
class SetMetrics:
    """The metrics of one evaluation set."""

    map: float
    micro_ap: float
    per_class_ap: np.ndarray  # (n_classes,), NaN where no positive
    n_positive: np.ndarray  # (n_classes,) positives per class in the set
    file_map: float | None  # None when no file spans several windows

    def as_dict(self, suffix: str) -> dict[str, float]:
        out = {f"map_{suffix}": self.map, f"micro_ap_{suffix}": self.micro_ap}
        if self.file_map is not None:
            out[f"file_map_{suffix}"] = self.file_map
        return out


def evaluate_scores(
    scores: np.ndarray, targets: np.ndarray, file_ids: np.ndarray | None = None
) -> SetMetrics:
    """All metrics of one set. `file_ids (n_windows,)` enables file-level MAP when some file
    spans several windows (otherwise it would repeat the window-level MAP)."""
    targets = np.asarray(targets) > 0.5
    file_map = None
    if file_ids is not None and len(np.unique(file_ids)) < len(file_ids):
        file_map = mean_average_precision(
            max_per_file(scores, file_ids), max_per_file(targets, file_ids) > 0.5
        )
    return SetMetrics(
        map=mean_average_precision(scores, targets),
        micro_ap=micro_average_precision(scores, targets),
        per_class_ap=average_precision(scores, targets),
        n_positive=targets.sum(axis=0).astype(np.int64),
        file_map=file_map,
    )


def label_prior_map(train_targets: np.ndarray, eval_targets: np.ndarray) -> float:
    """MAP of a classifier that ignores the audio and scores each class by its training frequency.

    Every item gets the same scores, so each class ties over all items and its AP is its
    prevalence in the set: the baseline a trained model must beat.
    """
    prior = np.asarray(train_targets, dtype=np.float64).mean(axis=0)  # (n_classes,)
    scores = np.broadcast_to(prior, np.shape(eval_targets))
    return mean_average_precision(scores, eval_targets)
