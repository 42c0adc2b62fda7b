"""Waveform -> image frontends: STFT, frequency scales, magnitude compression, normalisation,
resize and channels, as torch modules configured by `FrontendConfig` (the `frontend:` section of
a sweep file) and looked up by name in registries. Pure torch: it never reads or writes files,
never talks to MLflow or Optuna, and knows nothing of sweeps, datasets or training.

from frontends import FrontendConfig, build_frontend
frontend = build_frontend(FrontendConfig(compression="pcen", image_size=(128, 512)))
images = frontend(waveforms)  # (batch, samples) -> (batch, channels, H, W) float32

The names are imported on first use: `FrontendConfig` (and validating a sweep file) needs
neither torch nor the modules, `build_frontend` imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# name -> the submodule that defines it
_EXPORTS = {
    "DbConfig": "config",
    "ExpConfig": "config",
    "FrontendConfig": "config",
    "PcenConfig": "config",
    "Frontend": "frontend",
    "Spectrogram": "frontend",
    "build_frontend": "frontend",
    "check_finite_waveform": "frontend",
    "create_compression": "frontend",  # defined in _registry; frontend registers the built-ins
    "create_scale": "frontend",
    "list_compressions": "_registry",
    "list_scales": "_registry",
    "register_compression": "_registry",
    "register_scale": "_registry",
}

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

if TYPE_CHECKING:
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


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'frontends' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
