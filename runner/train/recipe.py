"""The parts of a training recipe that depend on the training labels, and "did it learn?".

    loss_fn = make_loss(cfg.train, train_targets)       # bce | focal | asl, optional pos_weight
    init_head_bias(model.backbone, train_targets, cfg.train.head_bias_init)
    prior = prior_loss(loss_fn, train_targets)          # the best loss of base rates alone
    verdict = learned_verdict(metrics, history, prior, first_set="test")

On small, many-class data a network first learns how common each class is: the training loss
falls to the label-prior entropy (the loss of predicting every class's training frequency for
every clip) and MAP sits at the label-prior MAP (`runner.train.metrics.label_prior_map`). A trial that
ends there learned nothing from the audio; `learned_verdict` says so, with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from runner.sweep.train_config import TrainConfig

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# A trial learned something when its MAP on the first evaluation set is at least this many times
# the label-prior MAP ...
MIN_MAP_OVER_PRIOR = 1.5
# ... and its training loss, at its lowest, came this far below the label-prior loss (the plateau
# of a network that predicts base rates only).
MAX_LOSS_OVER_PRIOR = 0.97
# Class frequencies are clipped to this range before the log-odds (a class seen in every clip).
_FREQ_CLIP = 1e-4


def class_frequencies(train_targets: np.ndarray) -> np.ndarray:
    """`(n_classes,)` fraction of training clips holding each class, clipped away from 0 and 1."""
    freq = (np.asarray(train_targets, dtype=np.float64) > 0.5).mean(axis=0)
    return np.clip(freq, _FREQ_CLIP, 1 - _FREQ_CLIP)


def prior_logits(train_targets: np.ndarray) -> np.ndarray:
    """`(n_classes,)` log-odds of each class's training frequency: the bias of a base-rate model."""
    freq = class_frequencies(train_targets)
    return np.log(freq / (1 - freq))


def balanced_pos_weight(train_targets: np.ndarray) -> np.ndarray:
    """`(n_classes,)` negatives / positives per class in the training labels (BCE's pos_weight)."""
    positive = (np.asarray(train_targets) > 0.5).sum(axis=0).astype(np.float64)
    n = np.asarray(train_targets).shape[0]
    return (n - positive) / np.maximum(positive, 1.0)


# --------------------------------------------------------------------------- losses


def make_loss(cfg: TrainConfig, train_targets: np.ndarray) -> LossFn:
    """The recipe's loss `(logits (B, C), target (B, C)) -> mean over clips and classes`."""
    pos_weight = None
    if cfg.pos_weight == "balanced":
        pos_weight = torch.as_tensor(balanced_pos_weight(train_targets), dtype=torch.float32)
    if cfg.loss == "bce":
        return _Bce(pos_weight)
    if cfg.loss == "focal":
        return _Focal(cfg.focal_gamma, pos_weight)
    return _Asymmetric(cfg.asl_gamma_pos, cfg.asl_gamma_neg, cfg.asl_clip, pos_weight)


class _WeightedLoss:
    def __init__(self, pos_weight: torch.Tensor | None):
        self.pos_weight = pos_weight

    def _weight(self, like: torch.Tensor) -> torch.Tensor | None:
        if self.pos_weight is None:
            return None
        if self.pos_weight.device != like.device:
            self.pos_weight = self.pos_weight.to(like.device)
        return self.pos_weight

    def _positive_weight(self, target: torch.Tensor) -> torch.Tensor | float:
        """1 for negative terms, pos_weight for positive ones (soft targets interpolate)."""
        weight = self._weight(target)
        return 1.0 if weight is None else 1.0 + (weight - 1.0) * target


class _Bce(_WeightedLoss):
    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=self._weight(logits))


class _Focal(_WeightedLoss):
    """Sigmoid focal loss (Lin et al. 2017) without the alpha balance: BCE x (1 - p_t)^gamma."""

    def __init__(self, gamma: float, pos_weight: torch.Tensor | None):
        super().__init__(pos_weight)
        self.gamma = gamma

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")  # (B, C)
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        return (bce * (1 - p_t) ** self.gamma * self._positive_weight(target)).mean()


class _Asymmetric(_WeightedLoss):
    """Asymmetric loss (Ridnik et al. 2021): positives -(1-p)^gp log p; negatives with the
    probability shifted down by `clip`, p_m = max(p - clip, 0), -p_m^gn log(1 - p_m), so easy
    negatives (the vast majority on many-class data) stop dominating the gradient."""

    def __init__(self, gamma_pos: float, gamma_neg: float, clip: float, pos_weight):
        super().__init__(pos_weight)
        self.gamma_pos, self.gamma_neg, self.clip = gamma_pos, gamma_neg, clip

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        log_p = F.logsigmoid(logits)
        p_m = (p - self.clip).clamp(min=0) if self.clip > 0 else p
        log_not_p_m = torch.log((1 - p_m).clamp(min=1e-8))
        positive = -((1 - p) ** self.gamma_pos) * log_p * self._positive_weight(target)
        negative = -(p_m**self.gamma_neg) * log_not_p_m
        return (target * positive + (1 - target) * negative).mean()


def prior_loss(loss_fn: LossFn, train_targets: np.ndarray) -> float:
    """The plateau of a network that has learned the base rates only: the recipe's lowest loss on
    the training labels over models that give every clip the same logits (one per class).

    For BCE that constant is the prior log-odds and the loss is the label-prior entropy; focal
    and asymmetric losses have their optimum elsewhere, so it is found by L-BFGS from there.
    """
    targets = torch.as_tensor(np.asarray(train_targets, dtype=np.float32))
    start = torch.as_tensor(prior_logits(train_targets), dtype=torch.float32)

    def loss_at(bias: torch.Tensor) -> torch.Tensor:
        return loss_fn(bias.expand_as(targets), targets)

    with torch.no_grad():
        best = float(loss_at(start))
    if isinstance(loss_fn, _Bce) and loss_fn.pos_weight is None:
        return best  # the prior log-odds are BCE's optimum: nothing to search
    bias = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([bias], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = loss_at(bias)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    with torch.no_grad():
        found = float(loss_at(bias))
    return min(best, found) if math.isfinite(found) else best


# --------------------------------------------------------------------------- the output bias


def init_head_bias(backbone: nn.Module, train_targets: np.ndarray, mode: str) -> None:
    """Set the classifier's bias: `prior` (log-odds of the training frequencies), `zero`, or
    `timm` (leave the backbone's own initialisation)."""
    if mode == "timm":
        return
    head = backbone.get_classifier() if hasattr(backbone, "get_classifier") else None
    bias = getattr(head, "bias", None)
    if not isinstance(bias, torch.Tensor):
        raise ValueError(
            f"head_bias_init: {mode}: the backbone's classifier ({type(head).__name__}) has no "
            "bias to set; use head_bias_init: timm"
        )
    values = prior_logits(train_targets) if mode == "prior" else np.zeros(bias.shape[0])
    if bias.shape != (len(values),):
        raise ValueError(
            f"head_bias_init: {mode}: the classifier's bias has shape {tuple(bias.shape)}, "
            f"not one value per class ({len(values)}); use head_bias_init: timm"
        )
    with torch.no_grad():
        bias.copy_(torch.as_tensor(values, dtype=bias.dtype))


# --------------------------------------------------------------------------- did it learn?


@dataclass(frozen=True)
class Verdict:
    learned: bool
    reason: str  # one line: the numbers behind the verdict

    @property
    def tag(self) -> str:
        return "yes" if self.learned else "no"


def learned_verdict(
    metrics: Mapping[str, float],
    history: Sequence[Mapping[str, Any]],
    prior_train_loss: float,
    first_set: str,
) -> Verdict:
    """Whether a finished trial learned anything: MAP on `first_set` at least 1.5x the label-prior
    MAP, and the training loss, at its lowest over the epochs, at most 0.97x the prior's loss.

    `metrics` holds `map_<set>` and `prior_map_<set>`; `history` the per-epoch entries
    `{"epoch", "metrics": {"train_loss", ...}}`.
    """
    ratio = metrics.get(f"map_over_prior_{first_set}", math.nan)
    losses = [e["metrics"]["train_loss"] for e in history if "train_loss" in e["metrics"]]
    loss_ratio = min(losses) / prior_train_loss if losses and prior_train_loss > 0 else math.nan
    map_text = (
        f"MAP {metrics.get(f'map_{first_set}', math.nan):.3f} = {ratio:.1f}x the label prior "
        f"on {first_set}"
    )
    loss_text = f"lowest training loss {loss_ratio:.2f}x the label-prior loss"
    problems = []
    if not ratio >= MIN_MAP_OVER_PRIOR:  # NaN counts as not learned
        problems.append(f"{map_text} (under {MIN_MAP_OVER_PRIOR}x)")
    if not loss_ratio <= MAX_LOSS_OVER_PRIOR:
        problems.append(f"{loss_text} (never below {MAX_LOSS_OVER_PRIOR}x: the prior's plateau)")
    if problems:
        return Verdict(False, "; ".join(problems))
    return Verdict(True, f"{map_text}; {loss_text}")
