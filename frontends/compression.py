"""Magnitude compressions (Merlin Part 2): `(batch, n_bands, time)` -> same shape.

`none`, `db` (log with a floor), `exp` (learnable power) and `pcen` (learnable per-channel energy
normalisation, three smoother initialisations). Learnable values are `nn.Parameter`s stored
unconstrained (logit for values in (0, 1), log for positive ones) so an optimiser step can never
leave the valid range; with `learnable: false` the same tensors are buffers. One value for all
bands has shape `(1, 1)`, one per band `(n_bands, 1)`: both broadcast over `(batch, bands, time)`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import functional
from ._registry import register_compression

if TYPE_CHECKING:
    from .config import FrontendConfig


_UNIT_MARGIN = 2e-6  # keeps values stored as logits inside (0, 1) in float32


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _store(
    module: nn.Module,
    name: str,
    value: float,
    shape: tuple[int, int],
    learnable: bool,
    dtype: torch.dtype,
) -> None:
    """Register `name` as a parameter (learnable) or a buffer, filled with `value`."""
    tensor = torch.full(shape, value, dtype=dtype)
    if learnable:
        module.register_parameter(name, nn.Parameter(tensor))
    else:
        module.register_buffer(name, tensor)


@register_compression("none")
class NoCompression(nn.Module):
    """The (normalised) spectrogram itself."""

    @classmethod
    def from_config(
        cls, cfg: FrontendConfig, n_bands: int, dtype: torch.dtype = torch.float32
    ) -> NoCompression:
        return cls()

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return spec


@register_compression("db")
class Db(nn.Module):
    """`log(max(S, floor))`: the seed's decibel frontend (natural log)."""

    def __init__(self, floor: float = 1e-6):
        super().__init__()
        self.floor = floor

    @classmethod
    def from_config(
        cls, cfg: FrontendConfig, n_bands: int, dtype: torch.dtype = torch.float32
    ) -> Db:
        return cls(cfg.db.floor)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return functional.db(spec, self.floor)

    def extra_repr(self) -> str:
        return f"floor={self.floor}"


@register_compression("exp")
class ExpCompression(nn.Module):
    """`S ** (1 / (1 + e^a))` with `a` global `(1, 1)` or per band `(n_bands, 1)`."""

    def __init__(
        self,
        n_bands: int,
        a: float = 0.0,
        per_band: bool = False,
        learnable: bool = True,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        _store(self, "a", a, (n_bands, 1) if per_band else (1, 1), learnable, dtype)

    @classmethod
    def from_config(cls, cfg: FrontendConfig, n_bands: int, dtype: torch.dtype = torch.float32):
        return cls(n_bands, cfg.exp.a, cfg.exp.per_band, cfg.exp.learnable, dtype)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return functional.exp_compress(spec, self.a)

    def normalized_image(
        self, spec: torch.Tensor, size: tuple[int, int] | None
    ) -> torch.Tensor | None:
        """This compression, the [0, 1] normalisation and the resize as one step `(B, 1, H', W')`
        when that has a cheaper backward (`functional.exp_image`), else None."""
        return functional.exp_image(spec, self.a, size)

    def extra_repr(self) -> str:
        return f"a_shape={tuple(self.a.shape)}, learnable={isinstance(self.a, nn.Parameter)}"


@register_compression("pcen")
class Pcen(nn.Module):
    """Per-channel energy normalisation with learnable smoothing, gain, bias, power and eps.

    Stored as `smoothing_logit`, `gain_logit`, `power_logit` (values in (0, 1)) and `bias_log`,
    `eps_log` (positive values); the properties of the same names without suffix give the values.
    """

    def __init__(
        self,
        n_bands: int,
        smoothing: float = 0.025,
        gain: float = 0.98,
        bias: float = 2.0,
        power: float = 0.5,
        eps: float = 1e-6,
        per_band: bool = False,
        learnable: bool = True,
        init: str = "loop",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        if init not in functional.PCEN_INITS:
            raise ValueError(
                f"pcen.init: unknown init {init!r}; use one of {list(functional.PCEN_INITS)}"
            )
        self.init = init
        shape = (n_bands, 1) if per_band else (1, 1)
        _store(self, "smoothing_logit", _logit(smoothing), shape, learnable, dtype)
        _store(self, "gain_logit", _logit(gain), shape, learnable, dtype)
        _store(self, "bias_log", math.log(bias), shape, learnable, dtype)
        _store(self, "power_logit", _logit(power), shape, learnable, dtype)
        _store(self, "eps_log", math.log(eps), shape, learnable, dtype)

    @classmethod
    def from_config(cls, cfg: FrontendConfig, n_bands: int, dtype: torch.dtype = torch.float32):
        p = cfg.pcen
        return cls(
            n_bands,
            p.smoothing,
            p.gain,
            p.bias,
            p.power,
            p.eps,
            p.per_band,
            p.learnable,
            p.init,
            dtype,
        )

    # The values, from the unconstrained storage. The clamps only bite at absurd raw values
    # (|logit| > 13, log beyond [-40, 20]), where float32 would round sigmoid to exactly 0 or 1 and
    # exp to 0 or inf; PCEN stays finite whatever an optimiser does.
    @property
    def smoothing(self) -> torch.Tensor:
        return torch.sigmoid(self.smoothing_logit).clamp(_UNIT_MARGIN, 1 - _UNIT_MARGIN)

    @property
    def gain(self) -> torch.Tensor:
        return torch.sigmoid(self.gain_logit).clamp(_UNIT_MARGIN, 1 - _UNIT_MARGIN)

    @property
    def bias(self) -> torch.Tensor:
        return torch.exp(self.bias_log.clamp(-40.0, 20.0))

    @property
    def power(self) -> torch.Tensor:
        return torch.sigmoid(self.power_logit).clamp(_UNIT_MARGIN, 1 - _UNIT_MARGIN)

    @property
    def eps(self) -> torch.Tensor:
        return torch.exp(self.eps_log.clamp(-40.0, 20.0))

    def forward(self, energy: torch.Tensor) -> torch.Tensor:
        """`(batch, n_bands, time)` non-negative energies -> PCEN, same shape."""
        return functional.pcen(
            energy, self.smoothing, self.gain, self.bias, self.power, self.eps, self.init
        )

    def extra_repr(self) -> str:
        learnable = isinstance(self.smoothing_logit, nn.Parameter)
        return f"init={self.init}, shape={tuple(self.smoothing_logit.shape)}, learnable={learnable}"
