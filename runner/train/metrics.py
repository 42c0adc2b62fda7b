"""Multi-label ranking metrics: average precision per class, MAP, micro AP, file-level MAP,
macro ROC-AUC, cmap5 and top-1 accuracy.

    ap = average_precision(scores, targets)        # (n_classes,), NaN where a class has no positive
    m = evaluate_scores(scores, targets, file_ids) # SetMetrics: map, micro_ap, auc, cmap5, top1...

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


def roc_auc(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of each column, as scikit-learn's `roc_auc_score` computes it.

    AUC = P(a random positive scores above a random negative), ties counting one half: the
    Mann-Whitney statistic from mid-ranks. returns `(n_classes,)` float64; NaN for a class
    without a positive or without a negative item (no curve to draw).
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) > 0.5
    if scores.shape != targets.shape:
        raise ValueError(f"scores {scores.shape} and targets {targets.shape} differ in shape")
    n, c = scores.shape
    auc = np.full(c, np.nan)
    for k in range(c):
        n_pos = int(targets[:, k].sum())
        if n_pos == 0 or n_pos == n:
            continue
        ranks = _mid_ranks(scores[:, k])
        rank_sum = ranks[targets[:, k]].sum()
        auc[k] = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
    return auc


def _mid_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values (n,)`, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]  # first item of each tie group
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)  # 0-based position of each group's first item
    last = np.r_[first[1:], len(values)] - 1
    ranks = np.empty(len(values))
    ranks[order] = (first[group] + last[group]) / 2 + 1
    return ranks


def top1_accuracy(scores: np.ndarray, targets: np.ndarray) -> float | None:
    """Fraction of items whose highest-scoring class is their label, when every item has exactly
    one label (single-label data); None otherwise (multi-label data or clips without a label).
    Ties go to the lowest class index, as numpy's argmax."""
    targets = np.asarray(targets) > 0.5
    if targets.shape[0] == 0 or not (targets.sum(axis=1) == 1).all():
        return None
    predicted = np.argmax(np.asarray(scores), axis=1)
    return float((predicted == np.argmax(targets, axis=1)).mean())


# BirdSet's cmap: MAP over the classes with at least this many positives in the set.
CMAP_MIN_POSITIVES = 5


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
    auc: float = float("nan")  # macro ROC-AUC over the classes with a positive and a negative
    cmap5: float = float("nan")  # MAP over the classes with >= 5 positives (NaN if none)
    top1: float | None = None  # top-1 accuracy; None unless every item has exactly one label

    @property
    def n_map_classes(self) -> int:
        """Classes that count in MAP (at least one positive); the others are left out."""
        return int((self.n_positive > 0).sum())

    @property
    def n_cmap5_classes(self) -> int:
        return int((self.n_positive >= CMAP_MIN_POSITIVES).sum())

    def as_dict(self, suffix: str) -> dict[str, float]:
        out = {
            f"map_{suffix}": self.map,
            f"micro_ap_{suffix}": self.micro_ap,
            f"auc_{suffix}": self.auc,
            f"cmap5_{suffix}": self.cmap5,
            f"classes_in_map_{suffix}": float(self.n_map_classes),
            f"classes_in_cmap5_{suffix}": float(self.n_cmap5_classes),
            f"classes_without_positive_{suffix}": float(len(self.n_positive) - self.n_map_classes),
        }
        if self.file_map is not None:
            out[f"file_map_{suffix}"] = self.file_map
        if self.top1 is not None:
            out[f"top1_{suffix}"] = self.top1
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
    per_class_ap = average_precision(scores, targets)
    n_positive = targets.sum(axis=0).astype(np.int64)
    auc = roc_auc(scores, targets)
    frequent = n_positive >= CMAP_MIN_POSITIVES
    return SetMetrics(
        map=float(np.nanmean(per_class_ap)) if np.isfinite(per_class_ap).any() else float("nan"),
        micro_ap=micro_average_precision(scores, targets),
        per_class_ap=per_class_ap,
        n_positive=n_positive,
        file_map=file_map,
        auc=float(np.nanmean(auc)) if np.isfinite(auc).any() else float("nan"),
        cmap5=float(per_class_ap[frequent].mean()) if frequent.any() else float("nan"),
        top1=top1_accuracy(scores, targets),
    )


def label_prior_map(train_targets: np.ndarray, eval_targets: np.ndarray) -> float:
    """MAP of a classifier that ignores the audio and scores each class by its training frequency.

    Every item gets the same scores, so each class ties over all items and its AP is its
    prevalence in the set: the baseline a trained model must beat.
    """
    prior = np.asarray(train_targets, dtype=np.float64).mean(axis=0)  # (n_classes,)
    scores = np.broadcast_to(prior, np.shape(eval_targets))
    return mean_average_precision(scores, eval_targets)


def chance_map(eval_targets: np.ndarray) -> float:
    """Expected MAP of scores in random order (no ties), over the classes with a positive.

    Higher than the label-prior MAP when classes have few positives in the set: a random ranking
    puts a class's only positive at rank r with AP 1/r, and E[1/r] = H_n / n > 1/n. Per class, with
    k positives among n items (Bestgen 2015): E[AP] = ((k - 1) / (n - 1) (n - H_n) + H_n) / n.
    """
    targets = np.asarray(eval_targets) > 0.5
    n = targets.shape[0]
    k = targets.sum(axis=0).astype(np.float64)
    k = k[k > 0]
    if n == 0 or k.size == 0:
        return float("nan")
    if n == 1:
        return 1.0
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    return float(np.mean(((k - 1) / (n - 1) * (n - harmonic) + harmonic) / n))
