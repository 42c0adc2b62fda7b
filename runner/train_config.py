"""The `train` and `eval` sections of a sweep: the training recipe and the evaluation sets.

The defaults are the seed's recipe (seeds/merlin-part1-spectrogram-creation.txt): BCE with
logits, SGD with initial learning rate 0.1 and piecewise-constant decay, 90 epochs, spectrogram
augmentations. No flips or rotations exist here on purpose: a spectrogram flipped in time or
frequency is a different sound (seeds/image-of-sound-feature-engineering.txt).

    train:
      epochs: 90
      batch_size: 64
      lr: 0.1
      milestones: [30, 60, 80]    # lr x lr_factor at the start of each of these epochs
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
    """How the classifier is trained. Binary cross-entropy with logits (multi-label) and SGD.

    epochs, batch_size
    lr, momentum, nesterov, weight_decay   SGD; weight decay skips biases and norm weights
                                           (1-d parameters), as timm does
    milestones, lr_factor                  piecewise-constant decay: lr x lr_factor once each
                                           milestone's number of epochs is done (as torch's
                                           MultiStepLR: [30] trains epochs 31.. at lr/10)
    warmup_epochs                          linear warm-up from lr/100 over this many epochs,
                                           per optimisation step (0 = off)
    grad_clip                              clip the gradient norm to this value (None = off)
    amp                                    "auto": bf16 autocast on CUDA, float32 on CPU;
                                           "bf16": bf16 autocast wherever supported; "none"
    channels_last                          None: on CUDA only
    compile                                torch.compile the backbone
    deterministic                          deterministic kernels (slower; for reproducing runs)
    num_workers                            loader worker processes (0 = load in the training
                                           process); None = runner.pipeline.default_workers:
                                           up to 4 feeding a GPU, 1 on a CPU
    augment                                see AugmentConfig
    """

    epochs: int = 90
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (30, 60, 80)
    lr_factor: float = 0.1
    warmup_epochs: float = 0.0
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
        if self.batch_size < 2:
            # BatchNorm cannot train on a batch of one.
            raise ValueError(f"batch_size: {self.batch_size} must be at least 2")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: {self.lr} must be a positive number")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum: {self.momentum} must be in [0, 1)")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0; set momentum (e.g. 0.9)")
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
    """Evaluation: MAP on each named set of the data (e.g. the seed's `test` and low-SNR `field`).

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
