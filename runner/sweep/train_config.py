"""The `train` and `eval` sections of a sweep: the training recipe and the evaluation sets.

The defaults are the recipe that learns on small data (benchmarks/RESULTS.md, "Training recipes
on the hard synthetic preset"): BCE with logits, AdamW at learning rate 0.003 (weight decay 0.01)
with a cosine schedule after one warm-up epoch, the output layer's bias at the log-odds of each
class's training frequency (`head_bias_init: prior`), spectrogram augmentations, 90 epochs. The
Merlin study's Part 1 recipe (SGD lr 0.1, weight decay 1e-4, piecewise decay at epochs
30, 60 and 80) stayed at the label prior there; sweeps/merlin_part1.yaml and merlin_part2.yaml
state it in full. Every option (SGD, the schedules, focal and asymmetric losses, balanced positive
weights) is a plain value, so a grid can sweep them. No flips or rotations exist here on purpose:
a spectrogram flipped in time or frequency is a different sound.

    train:
      epochs: 90
      batch_size: 64
      optimizer: sgd              # the Merlin study's recipe, in full
      lr: 0.1
      weight_decay: 0.0001
      schedule: piecewise
      milestones: [30, 60, 80]    # lr x lr_factor at the start of each of these epochs
      warmup_epochs: 0
      augment: {mixup_alpha: 0.0} # each augmentation can be turned off on its own
    eval:
      sets: [test, field]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


def _fraction(name: str, value: float, *, upper_open: bool = False) -> None:
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not (math.isfinite(value) and ok):
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise ValueError(f"{name}: {value} must be in {bound}")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentations, applied on the training device in the batch.

    On the waveform `(batch, samples)`, in this order:
      time_shift     circular shift by up to this fraction of the clip, either way (0 = off)
      gain_db        random gain, uniform in [-gain_db, +gain_db] dB (0 = off)
      background_prob / background_snr_db / background_color
                     with this probability, add coloured noise (white 0, pink 1, brown 2 = the
                     exponent of 1/f in power) at an SNR drawn uniformly from the range, dB
      mixup_prob / mixup_alpha / mixup_targets
                     with this probability, mix a clip with another clip of the batch:
                     x = lam x_i + (1 - lam) x_j, lam ~ Beta(alpha, alpha); multi-label targets
                     become the union (max) of both clips' labels, or the blend lam y_i + (1-lam) y_j
    On the image `(batch, channels, H, W)` after the frontend (SpecAugment):
      freq_masks / freq_mask_frac   this many bands, each up to this fraction of H tall
      time_masks / time_mask_frac   this many stripes, each up to this fraction of W wide
    Masked pixels take each image's mean value.
    """

    time_shift: float = 0.5
    gain_db: float = 6.0
    background_prob: float = 0.0
    background_snr_db: tuple[float, float] = (0.0, 20.0)
    background_color: float = 1.0
    mixup_prob: float = 0.0
    mixup_alpha: float = 0.4
    mixup_targets: Literal["union", "blend"] = "union"
    freq_masks: int = 2
    freq_mask_frac: float = 0.1
    time_masks: int = 2
    time_mask_frac: float = 0.1

    def __post_init__(self):
        _fraction("time_shift", self.time_shift)
        if not (math.isfinite(self.gain_db) and self.gain_db >= 0):
            raise ValueError(f"gain_db: {self.gain_db} must be >= 0 (0 turns random gain off)")
        _fraction("background_prob", self.background_prob)
        lo, hi = self.background_snr_db
        if not lo <= hi:
            raise ValueError(
                f"background_snr_db: [{lo}, {hi}] is not a range; give [low, high] with low <= high"
            )
        if not 0.0 <= self.background_color <= 2.0:
            raise ValueError(
                f"background_color: {self.background_color} must be in [0, 2] "
                "(0 white, 1 pink, 2 brown noise)"
            )
        _fraction("mixup_prob", self.mixup_prob)
        if not self.mixup_alpha > 0:
            raise ValueError(
                f"mixup_alpha: {self.mixup_alpha} must be > 0 (turn mixup off with mixup_prob: 0)"
            )
        for name in ("freq_masks", "time_masks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: {getattr(self, name)} must be >= 0 (0 turns it off)")
        _fraction("freq_mask_frac", self.freq_mask_frac, upper_open=True)
        _fraction("time_mask_frac", self.time_mask_frac, upper_open=True)

    @classmethod
    def off(cls) -> AugmentConfig:
        """Every augmentation turned off."""
        return cls(time_shift=0.0, gain_db=0.0, background_prob=0.0, mixup_prob=0.0,
                   freq_masks=0, time_masks=0)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """How the classifier is trained (multi-label: one sigmoid output per class).

    epochs, batch_size
    optimizer                              "sgd" (momentum, nesterov) or "adamw" (betas)
    lr, momentum, nesterov, betas          the optimizer's settings (momentum/nesterov: SGD only;
                                           betas: AdamW only)
    weight_decay                           either optimizer (AdamW's is decoupled); it skips
                                           biases and norm weights (1-d parameters), as timm does
    schedule                               "piecewise": lr x lr_factor once each of `milestones`
                                           epochs is done (as torch's MultiStepLR: [30] trains
                                           epochs 31.. at lr/10); "cosine": half a cosine from lr
                                           to 0 over the epochs after the warm-up; "onecycle": a
                                           cosine rise from lr/25 to lr over the warm-up (30% of
                                           the steps when warmup_epochs is 0), then a cosine
                                           fall to lr/25/1e4 (as torch's OneCycleLR)
    milestones, lr_factor                  the piecewise schedule's steps
    warmup_epochs                          "piecewise"/"cosine": linear warm-up from 0 over this
                                           many epochs, per optimisation step (0 = off; default:
                                           1 with the cosine schedule and more than one epoch,
                                           else 0)
    loss                                   "bce" (binary cross-entropy with logits), "focal"
                                           (BCE x (1 - p_t)^focal_gamma) or "asl" (asymmetric:
                                           positives x (1-p)^asl_gamma_pos, negatives with p
                                           shifted down by asl_clip, x p^asl_gamma_neg)
    pos_weight                             "none" or "balanced": each class's positive term
                                           weighted by its training negatives / positives
    head_bias_init                         the output layer's bias: "prior" = log(f / (1 - f)) of
                                           each class's training label frequency f, "zero", or
                                           "timm" = the backbone's own initialisation (what
                                           specsweep did before this option existed)
    grad_clip                              clip the gradient norm to this value (None = off)
    amp                                    "auto": bf16 autocast on CUDA, float32 on CPU;
                                           "bf16": bf16 autocast wherever supported; "none"
    channels_last                          None: on CUDA only
    compile                                torch.compile the backbone
    deterministic                          deterministic kernels (slower; for reproducing runs)
    num_workers                            loader worker processes (0 = load in the training
                                           process); None = runner.train.pipeline.default_workers:
                                           up to 4 feeding a GPU, 1 on a CPU
    augment                                see AugmentConfig
    """

    epochs: int = 90
    batch_size: int = 64
    optimizer: Literal["sgd", "adamw"] = "adamw"
    lr: float = 0.003  # chosen on the hard preset: 0.001 and 0.01 learned less in 8 epochs
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.01
    schedule: Literal["piecewise", "cosine", "onecycle"] = "cosine"
    milestones: tuple[int, ...] = (30, 60, 80)
    lr_factor: float = 0.1
    warmup_epochs: float | None = None  # None: 1 epoch for cosine (longer than 1 epoch), else 0
    loss: Literal["bce", "focal", "asl"] = "bce"
    focal_gamma: float = 2.0
    asl_gamma_neg: float = 4.0
    asl_gamma_pos: float = 1.0
    asl_clip: float = 0.05
    pos_weight: Literal["none", "balanced"] = "none"
    head_bias_init: Literal["prior", "zero", "timm"] = "prior"
    grad_clip: float | None = None
    amp: Literal["auto", "bf16", "none"] = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    num_workers: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs: {self.epochs} must be at least 1")
        if self.warmup_epochs is None:  # resolved once, here: a config states what it ran
            warm = self.schedule == "cosine" and self.epochs > 1
            object.__setattr__(self, "warmup_epochs", 1.0 if warm else 0.0)
        if self.batch_size < 2:
            # BatchNorm cannot train on a batch of one.
            raise ValueError(f"batch_size: {self.batch_size} must be at least 2")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            # lr 0 is allowed: a trial that cannot learn, to check what the report says about it
            raise ValueError(f"lr: {self.lr} must be a number >= 0")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum: {self.momentum} must be in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0; set momentum (e.g. 0.9)")
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError(
                "nesterov: true is an SGD setting; use optimizer: sgd, or leave it out"
            )
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas: {list(self.betas)} must both be in [0, 1), e.g. [0.9, 0.999]")
        for name in ("focal_gamma", "asl_gamma_neg", "asl_gamma_pos"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: {value} must be >= 0 (0 is plain BCE)")
        _fraction("asl_clip", self.asl_clip, upper_open=True)
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay: {self.weight_decay} must be >= 0")
        if list(self.milestones) != sorted(set(self.milestones)) or any(
            m < 1 for m in self.milestones
        ):
            raise ValueError(
                f"milestones: {list(self.milestones)} must be increasing epoch numbers >= 1"
            )
        if not 0.0 < self.lr_factor <= 1.0:
            raise ValueError(f"lr_factor: {self.lr_factor} must be in (0, 1] (0.1 divides by ten)")
        if not 0.0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                f"warmup_epochs: {self.warmup_epochs} must be >= 0 and less than epochs ({self.epochs})"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip: {self.grad_clip} must be > 0, or null to turn it off")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers: {self.num_workers} must be >= 0 (0 loads in-process)")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: MAP on each named set of the data (e.g. the Merlin study's `test` and low-SNR `field`).

    sets            split names of the dataset; the final metrics come from the last epoch
                    (never the best epoch on a test set: docs/design.md, decision 9)
    batch_size      None = twice the training batch (no gradients to keep)
    every_n_epochs  evaluate every this many epochs (per-epoch `val_map_<set>` for curves and
                    pruning); the last epoch is always evaluated
    """

    sets: tuple[str, ...] = ("test",)
    batch_size: int | None = None
    every_n_epochs: int = 1

    def __post_init__(self):
        if not self.sets:
            raise ValueError("sets: empty; name at least one evaluation set, e.g. [test]")
        if len(set(self.sets)) != len(self.sets):
            raise ValueError(f"sets: {list(self.sets)} names a set twice")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size: {self.batch_size} must be >= 1, or null")
        if self.every_n_epochs < 1:
            raise ValueError(f"every_n_epochs: {self.every_n_epochs} must be >= 1")
