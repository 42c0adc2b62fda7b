"""What a frontend's compressions hold: their parameter values per band, for a report to draw.

    summary = parameter_summary(frontend)
    summary["band_hz"]                      # centre frequency of each band, Hz
    summary["compressions"]["pcen"]["gain"]  # one value (global) or one per band

The values are the constrained ones the compression uses (PCEN's gain in (0, 1), exp's exponent
1 / (1 + e^a)), not their unconstrained storage, so they read like the config's numbers: the
trial logs this after training (`frontend_params.json`) beside `initial_parameter_summary(cfg)`,
and a report can show how far training moved each one from where it started.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from . import functional
from .compression import ExpCompression, Pcen
from .config import FrontendConfig
from .frontend import Frontend

PCEN_PARAMETERS = ("smoothing", "gain", "bias", "power", "eps")


def band_frequencies_hz(frontend: Frontend) -> list[float]:
    """Centre frequency of each band (the scale's output rows), in Hz: the FFT bin frequency for
    the linear scale, a filter's weighted mean frequency for a filterbank (mel, log, erb)."""
    cfg = frontend.cfg
    freqs = functional.fft_frequencies(cfg.sample_rate, cfg.n_fft).double()
    weights = getattr(frontend.scale, "weights", None)
    if weights is None:  # linear: a slice of FFT bins
        return [float(f) for f in freqs[frontend.scale.first : frontend.scale.stop]]
    w = weights.detach().double().cpu()  # (n_bands, n_freqs)
    return [float(f) for f in (w @ freqs) / w.sum(dim=1)]


def _values(tensor: torch.Tensor) -> list[float]:
    return [float(v) for v in tensor.detach().double().cpu().flatten()]


def _exponent(a: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(a.detach().double()))


def compression_parameters(module: nn.Module) -> dict[str, list[float]] | None:
    """`{parameter: values}` of one compression (one value, or one per band); None for a
    compression without parameters (db, none)."""
    if isinstance(module, ExpCompression):
        return {"exponent": _values(_exponent(module.a))}
    if isinstance(module, Pcen):
        return {name: _values(getattr(module, name)) for name in PCEN_PARAMETERS}
    return None


def parameter_summary(frontend: Frontend) -> dict[str, Any]:
    """Band frequencies and every compression's current parameters (see the module docstring);
    `learnable` says whether training could change them."""
    compressions = {}
    for name, module in frontend.compressions.items():
        values = compression_parameters(module)
        if values is not None:
            learnable = any(isinstance(p, nn.Parameter) for p in module.parameters())
            compressions[name] = {"learnable": learnable, "values": values}
    return {"band_hz": band_frequencies_hz(frontend), "compressions": compressions}


def initial_parameter_summary(cfg: FrontendConfig) -> dict[str, dict[str, float]]:
    """The value each compression parameter starts from, as `parameter_summary` spells it."""
    out: dict[str, dict[str, float]] = {}
    names = set(cfg.channel_compressions)
    if "exp" in names:
        out["exp"] = {"exponent": 1.0 / (1.0 + math.exp(cfg.exp.a))}
    if "pcen" in names:
        out["pcen"] = {name: float(getattr(cfg.pcen, name)) for name in PCEN_PARAMETERS}
    return out
