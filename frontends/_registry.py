"""Name -> class registries for compressions and frequency scales (timm's `_registry.py` pattern).

A sweep file names a compression or a scale by a plain string; these tables turn the string into
the module class. Register a new one with the decorator; `create_*` builds it from a config.

    @register_compression("db")
    class Db(nn.Module):
        @classmethod
        def from_config(cls, cfg, n_bands, dtype=torch.float32) -> "Db": ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:
    from torch import nn

    from .config import FrontendConfig

_COMPRESSIONS: dict[str, Any] = {}
_SCALES: dict[str, Any] = {}

T = TypeVar("T")


def _register(table: dict[str, Any], kind: str, name: str) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered (by {table[name].__name__})")
        table[name] = cls
        return cls

    return decorator


def register_compression(name: str) -> Callable[[T], T]:
    """Class decorator: make a compression module available as `frontend.compression: <name>`.

    The class needs `from_config(cfg, n_bands, dtype=torch.float32) -> nn.Module` whose forward maps
    `(batch, n_bands, time)` to the same shape.
    """
    return _register(_COMPRESSIONS, "compression", name)


def register_scale(name: str) -> Callable[[T], T]:
    """Class decorator: make a frequency scale available as `frontend.scale: <name>`.

    The class needs `from_config(cfg, dtype=torch.float32) -> nn.Module` mapping `(batch, n_fft // 2 + 1, time)` to
    `(batch, n_bands, time)`, and `count_empty(cfg, n_fft) -> int` (bands no FFT bin falls in).
    """
    return _register(_SCALES, "scale", name)


def list_compressions() -> list[str]:
    return sorted(_COMPRESSIONS)


def list_scales() -> list[str]:
    return sorted(_SCALES)


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    if name not in table:
        raise ValueError(f"{kind}: unknown {kind} {name!r}; registered: {sorted(table)}")
    return table[name]


def get_scale(name: str) -> Any:
    """The registered scale class (for its static helpers, e.g. `count_empty`)."""
    return _lookup(_SCALES, "scale", name)


def create_compression(
    name: str, cfg: FrontendConfig, n_bands: int, dtype: torch.dtype = torch.float32
) -> nn.Module:
    """Build the compression registered as `name` for a spectrogram with `n_bands` bands,
    its parameters in `dtype` ."""
    return _lookup(_COMPRESSIONS, "compression", name).from_config(cfg, n_bands, dtype=dtype)


def create_scale(name: str, cfg: FrontendConfig, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build the frequency scale registered as `name`, its matrix in `dtype` ;
    `cfg` must be resolved (n_fft set)."""
    return _lookup(_SCALES, "scale", name).from_config(cfg, dtype=dtype)
