"""Frequency scales: `(batch, n_fft // 2 + 1, time)` FFT bins -> `(batch, n_bands, time)` bands.

`linear` keeps the FFT bins (those between f_min and f_max); `mel`, `log` and `erb` are fixed
filterbank matrices, kept as buffers so `.to(device)` and `state_dict` carry them. A band is
*empty* when no FFT bin falls inside it (it would be 0 for every input); `FrontendConfig` refuses
an n_fft that leaves empty bands, or picks one that leaves none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from . import filterbanks, functional
from ._names import BUILTIN_SCALES
from ._registry import register_scale

if TYPE_CHECKING:
    from .config import FrontendConfig


def _f_max(cfg: FrontendConfig) -> float:
    return cfg.sample_rate / 2.0 if cfg.f_max is None else cfg.f_max


@register_scale("linear")
class LinearScale(nn.Module):
    """The FFT bins whose centre lies in [f_min, f_max]: all of them by default (no matrix)."""

    def __init__(
        self, sample_rate: int, n_fft: int, f_min_hz: float = 0.0, f_max_hz: float | None = None
    ):
        super().__init__()
        self.first, self.stop = self.bin_range(sample_rate, n_fft, f_min_hz, f_max_hz)
        self.n_bands = self.stop - self.first

    @staticmethod
    def bin_range(
        sample_rate: int, n_fft: int, f_min_hz: float, f_max_hz: float | None
    ) -> tuple[int, int]:
        return filterbanks.linear_bin_range(sample_rate, n_fft, f_min_hz, f_max_hz)

    @classmethod
    def from_config(cls, cfg: FrontendConfig, dtype: torch.dtype = torch.float32) -> LinearScale:
        return cls(cfg.sample_rate, cfg.n_fft, cfg.f_min, cfg.f_max)

    @staticmethod
    def count_empty(cfg: FrontendConfig, n_fft: int) -> int:
        return filterbanks.count_empty(cfg, n_fft)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """`(batch, n_freqs, time)` -> `(batch, n_bands, time)`."""
        if self.first == 0 and self.stop == spec.shape[-2]:
            return spec
        return spec[..., self.first : self.stop, :]

    def extra_repr(self) -> str:
        return f"bins={self.first}:{self.stop}"


class FilterBank(nn.Module):
    """`weights @ spec` with a fixed `(n_bands, n_freqs)` matrix; subclasses say how to build it.

    Empty bands are counted by `filterbanks.count_empty` (triangles: no bin with a positive
    weight, librosa's "empty filter" test; ERB: no bin in the half-power passband).
    """

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights)  # (n_bands, n_freqs)
        self.n_bands = weights.shape[0]

    @staticmethod
    def make_weights(cfg: FrontendConfig, n_fft: int) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def from_config(cls, cfg: FrontendConfig, dtype: torch.dtype = torch.float32) -> FilterBank:
        # Built in float64 and rounded once, so a float64 frontend is exact (not float32 upcast).
        return cls(cls.make_weights(cfg, cfg.n_fft).to(dtype))

    @classmethod
    def count_empty(cls, cfg: FrontendConfig, n_fft: int) -> int:
        # The built-in scales: the numpy count the config validates with, without torch. A
        # registered subclass: the bands of its own matrix where no bin has a positive weight.
        if cfg.scale in BUILTIN_SCALES:
            return filterbanks.count_empty(cfg, n_fft)
        return int((cls.make_weights(cfg, n_fft).amax(dim=1) <= 0).sum())

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """`(batch, n_freqs, time)` -> `(batch, n_bands, time)`."""
        return torch.matmul(self.weights.to(spec.dtype), spec)

    def extra_repr(self) -> str:
        return f"n_bands={self.weights.shape[0]}, n_freqs={self.weights.shape[1]}"


@register_scale("mel")
class MelScale(FilterBank):
    """Triangular mel bands, slaney or htk, optional area norm: `librosa.filters.mel` exactly."""

    @staticmethod
    def make_weights(cfg: FrontendConfig, n_fft: int) -> torch.Tensor:
        return functional.mel_filterbank(
            cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, _f_max(cfg), cfg.mel_scale, cfg.mel_norm
        )


@register_scale("log")
class LogScale(FilterBank):
    """Triangular bands with log-spaced edges from f_min (> 0) to f_max: constant-Q-like."""

    @staticmethod
    def make_weights(cfg: FrontendConfig, n_fft: int) -> torch.Tensor:
        return functional.log_filterbank(
            cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, _f_max(cfg), cfg.mel_norm
        )


@register_scale("erb")
class ErbScale(FilterBank):
    """Gammatone-like weighting of FFT bins (Ellis's `fft2gammatonemx`), ERB-spaced centres.

    A gammatone's response never reaches 0, so "empty" means: no FFT bin inside the band's
    half-power passband (the response, scaled to 1 at the centre, never reaches 1/sqrt(2) on a bin).
    """

    @staticmethod
    def make_weights(cfg: FrontendConfig, n_fft: int) -> torch.Tensor:
        return functional.erb_filterbank(
            cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, _f_max(cfg), power=cfg.power
        )
