"""Name -> class registries for compressions and frequency scales (timm's `_registry.py` pattern).

A sweep file names a compression or a scale by a plain string; these tables turn the string into
the module class. Register a new one with the decorator; `create_*` builds it from a config.
The built-in classes register themselves when `frontends.compression` and `frontends.scales` are
imported; `frontends.frontend` imports both, so `build_frontend` and `frontends.create_*` find
them. This module imports neither (nor torch): the imports run one way, into the registry.

    @register_compression("db")
    class Db(nn.Module):
        @classmethod
        def from_config(cls, cfg, n_bands, dtype=torch.float32) -> "Db": ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._names import BUILTIN_COMPRESSIONS, BUILTIN_SCALES
from ._types import BandLayout

if TYPE_CHECKING:
    import torch
    from torch import nn


_COMPRESSIONS: dict[str, Any] = {}
_SCALES: dict[str, Any] = {}

# The built-in names are known before their modules (and torch) are imported, so a config names
# them without torch; each name may be registered only by the module named here (relative to
# this package, which a logged model carries under another name: runner/tracking/bundle.py).
_BUILTIN = {
    "compression": (f"{__package__}.compression", BUILTIN_COMPRESSIONS),
    "scale": (f"{__package__}.scales", BUILTIN_SCALES),
}

T = TypeVar("T")


def _register(table: dict[str, Any], kind: str, name: str) -> Callable[[T], T]:
    module, builtin = _BUILTIN[kind]

    def decorator(cls: T) -> T:
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered (by {table[name].__name__})")
        if name in builtin and getattr(cls, "__module__", None) != module:
            raise ValueError(f"{kind} {name!r} is built in ({module}); register another name")
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
    `(batch, n_bands, time)`, and `count_empty(cfg, n_fft) -> int` (bands no FFT bin falls in),
    which `FrontendConfig` calls to choose n_fft. A subclass of `frontends.scales.FilterBank`
    only writes `make_weights(cfg, n_fft) -> (n_bands, n_freqs)` and gets both.
    """
    return _register(_SCALES, "scale", name)


def list_compressions() -> list[str]:
    return sorted(set(_COMPRESSIONS) | set(BUILTIN_COMPRESSIONS))


def list_scales() -> list[str]:
    return sorted(set(_SCALES) | set(BUILTIN_SCALES))


def scale_class(name: str) -> Any:
    """The class registered as scale `name` (a ValueError naming the registered ones if none)."""
    return _lookup(_SCALES, "scale", name)


def _lookup(table: dict[str, Any], kind: str, name: str) -> Any:
    if name not in table:
        raise ValueError(f"{kind}: unknown {kind} {name!r}; registered: {sorted(table)}")
    return table[name]


def create_compression(
    name: str, cfg: BandLayout, n_bands: int, dtype: torch.dtype | None = None
) -> nn.Module:
    """Build the compression registered as `name` for a spectrogram with `n_bands` bands,
    its parameters in `dtype` (default float32)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    return _lookup(_COMPRESSIONS, "compression", name).from_config(cfg, n_bands, dtype=dtype)


def create_scale(name: str, cfg: BandLayout, dtype: torch.dtype | None = None) -> nn.Module:
    """Build the frequency scale registered as `name`, its matrix in `dtype` (default float32);
    `cfg` must be resolved (n_fft set)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    return _lookup(_SCALES, "scale", name).from_config(cfg, dtype=dtype)
