"""Waveform -> image frontends: STFT, frequency scales, magnitude compression, resize. Pure torch.

from frontends import FrontendConfig, build_frontend
frontend = build_frontend(FrontendConfig(compression="pcen", image_size=(128, 512)))
images = frontend(waveforms)  # (batch, samples) -> (batch, channels, H, W) float32
"""

# Importing the modules registers their compressions and scales; the config checks names against
# the registry, so these imports come before any FrontendConfig is built.
from . import compression, scales  # noqa: F401
from ._registry import (
    create_compression,
    create_scale,
    list_compressions,
    list_scales,
    register_compression,
    register_scale,
)
from .config import DbConfig, ExpConfig, FrontendConfig, PcenConfig
from .frontend import Frontend, Spectrogram, build_frontend, check_finite_waveform

__all__ = [
    "DbConfig",
    "ExpConfig",
    "Frontend",
    "FrontendConfig",
    "PcenConfig",
    "Spectrogram",
    "build_frontend",
    "check_finite_waveform",
    "create_compression",
    "create_scale",
    "list_compressions",
    "list_scales",
    "register_compression",
    "register_scale",
]
