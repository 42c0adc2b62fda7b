"""Training-time augmentations for multi-label sound clips, batched on the training device.

    aug = Augmenter(cfg.train.augment, device, seed=1234)
    waveform, target = aug.waveform(waveform, target)   # (B, samples), (B, n_classes)
    image = aug.image(frontend(waveform))               # (B, C, H, W): SpecAugment masks

The pure functions below take their random draws as arguments; `Augmenter` draws them (per-item
scalars from a numpy generator, noise from a torch generator on the device) so a seed fixes
everything. No flips or rotations: a spectrogram turned around is a different sound.
"""

from __future__ import annotations

import numpy as np
import torch

from runner.train_config import AugmentConfig

# --------------------------------------------------------------------------- waveform


def time_shift(waveform: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll each clip circularly in time. waveform (B, samples); shifts (B,) int samples."""
    n = waveform.shape[-1]
    index = (torch.arange(n, device=waveform.device) - shifts[:, None]) % n  # (B, samples)
    return torch.gather(waveform, 1, index)


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


# --------------------------------------------------------------------------- the augmenter


class Augmenter:
    """Draws and applies the augmentations of `cfg` (see AugmentConfig), seeded."""

    def __init__(self, cfg: AugmentConfig, device: torch.device | str, seed: int):
        self.cfg = cfg
        self.device = torch.device(device)
        self.rng = np.random.default_rng(seed)  # per-item scalars
        self.noise_gen = torch.Generator(device=self.device)  # large tensors, drawn on the device
        self.noise_gen.manual_seed(int(seed) % 2**63)

    def _tensor(self, values: np.ndarray, dtype=torch.float32) -> torch.Tensor:
        return torch.as_tensor(values, dtype=dtype).to(self.device, non_blocking=True)

    def waveform(
        self, waveform: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Time shift, gain, background noise, mixup. waveform (B, samples), target (B, classes)."""
        cfg, rng = self.cfg, self.rng
        batch, n = waveform.shape
        if cfg.time_shift > 0:
            max_shift = int(cfg.time_shift * n)
            waveform = time_shift(
                waveform, self._tensor(rng.integers(-max_shift, max_shift + 1, batch), torch.long)
            )
        if cfg.gain_db > 0:
            waveform = apply_gain(
                waveform, self._tensor(rng.uniform(-cfg.gain_db, cfg.gain_db, batch))
            )
        if cfg.background_prob > 0:
            apply = rng.random(batch) < cfg.background_prob
            snr = rng.uniform(*cfg.background_snr_db, batch)
            noise = colored_noise((batch, n), cfg.background_color, self.noise_gen, self.device)
            waveform = add_noise(
                waveform, noise, self._tensor(snr), self._tensor(apply, torch.bool)
            )
        if cfg.mixup_prob > 0 and batch > 1:
            apply = rng.random(batch) < cfg.mixup_prob
            lam = np.where(apply, rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, batch), 1.0)
            partner = rng.permutation(batch)
            own = np.arange(batch)
            partner = np.where(partner == own, (own + 1) % batch, partner)  # never itself
            waveform, target = mix(
                waveform, target, self._tensor(partner, torch.long), self._tensor(lam),
                cfg.mixup_targets,
            )  # fmt: skip
        return waveform, target

    def image(self, image: torch.Tensor) -> torch.Tensor:
        """SpecAugment frequency and time masks on `image (B, C, H, W)`."""
        cfg, rng = self.cfg, self.rng
        batch, _, height, width = image.shape
        for dim, count, frac, size in (
            (2, cfg.freq_masks, cfg.freq_mask_frac, height),
            (3, cfg.time_masks, cfg.time_mask_frac, width),
        ):
            max_width = int(frac * size)
            if count == 0 or max_width == 0:
                continue
            widths = rng.integers(0, max_width + 1, (batch, count))
            starts = rng.integers(0, size - widths + 1)
            image = mask_stripes(
                image, dim, self._tensor(starts, torch.long), self._tensor(widths, torch.long)
            )
        return image
