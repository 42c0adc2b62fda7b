"""Training-time augmentations for multi-label sound clips, one batch at a time.

    aug = Augmenter(cfg.train.augment, np.random.default_rng([seed, batch_index]))
    waveform, target = aug.waveform(waveform, target)   # (B, samples), (B, n_classes)
    masks = aug.masks(batch, height, width)             # SpecAugment stripes, drawn now ...
    image = apply_masks(frontend(waveform), masks)      # ... applied wherever the image is made

The pure functions below take their random draws as arguments; `Augmenter` draws them from the
batch's own generator (per-item scalars from numpy, noise from a torch generator seeded by it), so
a batch's augmentations depend on its seed alone, not on which process or device runs them. The
loader runs the waveform part (runner.train.pipeline). No flips or rotations: a spectrogram turned
around is a different sound.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from runner.sweep.train_config import AugmentConfig

# --------------------------------------------------------------------------- waveform


def time_shift(waveform: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll each clip circularly in time. waveform (B, samples); shifts (B,) int samples.

    Two slice copies per clip: every sample is written once (a gather through a (B, samples)
    index would build and read that index too).
    """
    n = waveform.shape[-1]
    out = torch.empty_like(waveform)
    for row, shift in enumerate(shifts.remainder(n).tolist()):
        out[row, shift:] = waveform[row, : n - shift]
        out[row, :shift] = waveform[row, n - shift :]
    return out


def apply_gain(waveform: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    """Scale each clip by its gain. waveform (B, samples); gain_db (B,) decibels (amplitude)."""
    return waveform * (10.0 ** (gain_db / 20.0))[:, None]


def colored_noise(
    shape: tuple[int, int], color: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Noise `(B, samples)` whose power falls as 1/f**color (0 white, 1 pink, 2 brown), unit RMS.

    White Gaussian noise shaped in the frequency domain: one rfft, no loop over samples.
    """
    batch, n = shape
    white = torch.randn(batch, n, generator=generator, device=device)
    if color != 0:
        spectrum = torch.fft.rfft(white)  # (B, n // 2 + 1)
        freqs = torch.arange(spectrum.shape[-1], device=device, dtype=torch.float32)
        freqs[0] = 1.0  # keep DC finite; it is removed below anyway
        spectrum = spectrum / freqs ** (color / 2.0)  # amplitude ~ f^(-color/2): power ~ f^-color
        white = torch.fft.irfft(spectrum, n=n)
    white = white - white.mean(dim=-1, keepdim=True)
    return white / white.pow(2).mean(dim=-1, keepdim=True).sqrt().clamp_min(1e-12)


def add_noise(
    waveform: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor, apply: torch.Tensor
) -> torch.Tensor:
    """Add `noise (B, samples)` (unit RMS) at `snr_db (B,)` to the clips where `apply (B,)` is true.

    The noise level follows each clip's own RMS; a silent clip gets noise at RMS 1e-3 (-60 dBFS)
    scaled by the same SNR, so it still becomes a clip of (quiet) background.
    """
    rms = waveform.pow(2).mean(dim=-1).sqrt()  # (B,)
    rms = torch.where(rms > 1e-6, rms, torch.full_like(rms, 1e-3))
    level = rms * 10.0 ** (-snr_db / 20.0) * apply.to(waveform.dtype)  # (B,)
    return waveform + noise * level[:, None]


def mix(
    waveform: torch.Tensor,
    target: torch.Tensor,
    partner: torch.Tensor,
    lam: torch.Tensor,
    targets: str = "union",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup for multi-label clips: x_i <- lam_i x_i + (1 - lam_i) x_partner(i).

    waveform (B, samples); target (B, n_classes); partner (B,) indices; lam (B,) in [0, 1]
    (lam = 1 leaves a clip untouched). Both clips' sounds are present after mixing, so by default
    the target is the union (max) of their labels; "blend" weighs them by lam instead.
    """
    lam_w = lam.to(waveform.dtype)[:, None]
    mixed = lam_w * waveform + (1 - lam_w) * waveform[partner]
    lam_t = lam.to(target.dtype)[:, None]
    if targets == "union":
        # A partner weighted 0 (a clip left untouched) contributes no labels.
        mixed_target = torch.maximum(target, torch.where(lam_t < 1, target[partner], 0.0))
    elif targets == "blend":
        mixed_target = lam_t * target + (1 - lam_t) * target[partner]
    else:
        raise ValueError(f"mixup_targets: {targets!r} is not one of union, blend")
    return mixed, mixed_target


# --------------------------------------------------------------------------- image (SpecAugment)


def mask_stripes(
    image: torch.Tensor, dim: int, starts: torch.Tensor, widths: torch.Tensor
) -> torch.Tensor:
    """Fill stripes of `image (B, C, H, W)` along `dim` (2 = frequency rows, 3 = time columns).

    starts, widths: (B, n_masks) int. Masked pixels take the image's mean (per item), so a mask
    looks like "nothing there" whatever the frontend's value range is.
    """
    size = image.shape[dim]
    pos = torch.arange(size, device=image.device)  # (size,)
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])  # (B, n, size)
    hit = inside.any(dim=1)  # (B, size)
    shape = [image.shape[0], 1, 1, 1]
    shape[dim] = size
    hit = hit.view(shape)
    fill = image.mean(dim=(1, 2, 3), keepdim=True)
    return torch.where(hit, fill, image)


class Masks(NamedTuple):
    """The SpecAugment stripes drawn for one batch (empty tensors when that kind is off)."""

    freq: torch.Tensor  # (B, n_freq_masks, 2) int64: first row, number of rows
    time: torch.Tensor  # (B, n_time_masks, 2) int64: first column, number of columns

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Masks:
        return Masks(*(m.to(device, non_blocking=non_blocking) for m in self))


def apply_masks(image: torch.Tensor, masks: Masks) -> torch.Tensor:
    """SpecAugment: the frequency stripes, then the time stripes, on `image (B, C, H, W)`."""
    for dim, stripes in ((2, masks.freq), (3, masks.time)):
        if stripes.shape[1] > 0:
            image = mask_stripes(image, dim, stripes[..., 0], stripes[..., 1])
    return image


# --------------------------------------------------------------------------- the augmenter


class Augmenter:
    """Draws and applies the augmentations of `cfg` (see AugmentConfig) to one batch.

    `rng` is the batch's own generator: the loader seeds it by (epoch, batch index), so the draws
    do not depend on the worker or the device. The waveform work runs where the tensors are.
    """

    def __init__(self, cfg: AugmentConfig, rng: np.random.Generator):
        self.cfg = cfg
        self.rng = rng

    def waveform(
        self, waveform: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Time shift, gain, background noise, mixup. waveform (B, samples), target (B, classes)."""
        cfg, rng = self.cfg, self.rng
        batch, n = waveform.shape
        device = waveform.device

        def tensor(values, dtype=torch.float32) -> torch.Tensor:
            return torch.as_tensor(values, dtype=dtype).to(device, non_blocking=True)

        if cfg.time_shift > 0:
            max_shift = int(cfg.time_shift * n)
            shifts = rng.integers(-max_shift, max_shift + 1, batch)
            waveform = time_shift(waveform, tensor(shifts, torch.long))
        if cfg.gain_db > 0:
            waveform = apply_gain(waveform, tensor(rng.uniform(-cfg.gain_db, cfg.gain_db, batch)))
        if cfg.background_prob > 0:
            apply = rng.random(batch) < cfg.background_prob
            snr = rng.uniform(*cfg.background_snr_db, batch)
            generator = torch.Generator(device=device)
            generator.manual_seed(int(rng.integers(2**63)))
            noise = colored_noise((batch, n), cfg.background_color, generator, device)
            waveform = add_noise(waveform, noise, tensor(snr), tensor(apply, torch.bool))
        if cfg.mixup_prob > 0 and batch > 1:
            apply = rng.random(batch) < cfg.mixup_prob
            lam = np.where(apply, rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, batch), 1.0)
            partner = rng.permutation(batch)
            own = np.arange(batch)
            partner = np.where(partner == own, (own + 1) % batch, partner)  # never itself
            waveform, target = mix(
                waveform, target, tensor(partner, torch.long), tensor(lam), cfg.mixup_targets
            )
        return waveform, target

    def masks(self, batch: int, height: int, width: int) -> Masks:
        """SpecAugment frequency and time stripes for `batch` images of `height` x `width`."""
        cfg, rng = self.cfg, self.rng
        drawn = []
        for count, frac, size in (
            (cfg.freq_masks, cfg.freq_mask_frac, height),
            (cfg.time_masks, cfg.time_mask_frac, width),
        ):
            max_width = int(frac * size)
            if count == 0 or max_width == 0:
                drawn.append(torch.zeros(batch, 0, 2, dtype=torch.long))
                continue
            widths = rng.integers(0, max_width + 1, (batch, count))
            starts = rng.integers(0, size - widths + 1)
            drawn.append(torch.from_numpy(np.stack([starts, widths], axis=-1)).long())
        return Masks(*drawn)
