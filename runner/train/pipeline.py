"""The training input pipeline: what the loader does to each batch, and where the frontend runs.

    prep = BatchPrep.for_training(cfg.train.augment, model.frontend, device, n_samples)
    loader = train_loader(data.train, batch_size, seed=s, num_workers=w, prepare=prep)
    for batch in loader:                                  # TrainBatch
        image = to_images(batch, model.frontend, device)  # (B, C, H, W) on the device

Where the work runs:

- crops, the NaN/inf check, the waveform augmentations (time shift, gain, background noise,
  mixup) and the SpecAugment draws: in the loader, on the CPU, in a worker process when
  `num_workers > 0`, so they overlap the training step;
- the frontend and SpecAugment masks: in the loader too when the frontend has nothing to learn and
  the training step runs on the CPU (a worker then makes the next batch's images while the
  training process runs the backbone); otherwise on the training device, inside the step: a
  learnable frontend must be in the autograd graph, and a GPU computes a spectrogram far faster
  than the loader's cores would.

Either way the images are the same (the same code on the same CPU, to the bit; a test checks it),
and every random draw comes from the batch's generator (runner.data.sampling seeds it by epoch and
batch index), so a trial's result depends neither on the number of workers nor on the placement.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from frontends import check_finite_waveform
from runner.data.sampling import default_num_workers
from runner.sweep.train_config import AugmentConfig
from runner.train.augment import Augmenter, Masks, apply_masks


class TrainBatch(NamedTuple):
    """One training batch as the loader hands it over."""

    # waveform (B, samples), or image (B, C, H, W) when the loader ran the frontend
    inputs: torch.Tensor
    target: torch.Tensor  # (B, n_classes) multi-hot (or blended by mixup)
    masks: Masks | None  # SpecAugment stripes still to apply to the image; None once applied


def frontend_in_loader(frontend: nn.Module, device: torch.device) -> bool:
    """Whether the loader should run `frontend`: nothing in it learns and training is on the CPU."""
    learns = any(p.requires_grad for p in frontend.parameters())
    return device.type == "cpu" and not learns


def default_workers(device: torch.device, threads: int) -> int:
    """Loader workers for a trial with a budget of `threads` CPU threads, when the sweep leaves
    `train.num_workers` unset. Feeding a GPU: threads - 1, at most 4 (one worker already streams
    far faster than a CNN consumes, benchmarks/RESULTS.md). Training on the CPU: one worker, which
    makes the next batch's images while the step runs (about a sixth of the step's time for the
    demo model, so it idles most of the time), if the budget has a second thread; else none."""
    workers = default_num_workers(threads)
    return workers if device.type == "cuda" else min(workers, 1)


class BatchPrep:
    """The loader's work on a stacked batch (a `prepare` for runner.data.train_loader).

    `frontend` is given when the loader runs it (see `frontend_in_loader`); `image_hw` is the
    frontend's (height, width) for clips of this length, which the mask draws need either way.
    """

    def __init__(
        self,
        augment: AugmentConfig,
        image_hw: tuple[int, int],
        frontend: nn.Module | None = None,
        amp_dtype: torch.dtype | None = None,
    ):
        self.augment = augment
        self.image_hw = tuple(image_hw)
        self.frontend = frontend
        self.amp_dtype = amp_dtype  # the training step's autocast, kept when the loader runs it

    @classmethod
    def for_training(
        cls,
        augment: AugmentConfig,
        frontend: nn.Module,
        device: torch.device,
        n_samples: int,
        amp_dtype: torch.dtype | None = None,
    ) -> BatchPrep:
        """The prep for training `frontend` on `device` with clips of `n_samples`."""
        _, height, width = frontend.output_shape(n_samples)
        in_loader = frontend_in_loader(frontend, device)
        return cls(augment, (height, width), frontend if in_loader else None, amp_dtype)

    @property
    def runs_frontend(self) -> bool:
        return self.frontend is not None

    @torch.no_grad()
    def __call__(
        self, waveform: torch.Tensor, target: torch.Tensor, rng: np.random.Generator
    ) -> TrainBatch:
        # NaN/inf audio is caught here, on the CPU batch: in the frontend, on a GPU, the check
        # would wait for the device once per batch.
        check_finite_waveform(waveform)
        augmenter = Augmenter(self.augment, rng)
        waveform, target = augmenter.waveform(waveform, target)
        masks = augmenter.masks(waveform.shape[0], *self.image_hw)
        if self.frontend is None:
            return TrainBatch(waveform, target, masks)
        with torch.autocast("cpu", dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):  # fmt: skip
            image = apply_masks(self.frontend(waveform, check_finite=False), masks)
        return TrainBatch(image, target, None)


def to_images(
    batch: TrainBatch, frontend: nn.Module, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's images `(B, C, H, W)` and targets `(B, n_classes)` on `device`: runs the
    frontend and the masks here unless the loader already did. Call it inside the step's autocast."""
    inputs = batch.inputs.to(device, non_blocking=True)
    target = batch.target.to(device, non_blocking=True)
    if batch.masks is None:
        return inputs, target
    image = frontend(inputs, check_finite=False)
    return apply_masks(image, batch.masks.to(device, non_blocking=True)), target
