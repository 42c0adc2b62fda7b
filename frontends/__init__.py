"""Waveform -> image frontends: STFT, frequency scales, magnitude compression, resize. Pure torch."""

from frontends.config import FrontendConfig

__all__ = ["FrontendConfig"]
