"""PCEN as it was before the blocked-scan smoother: the looped smoother as one rfft/irfft pair at
the frame count (plus the closed-form edge correction for the other inits), autograd through the
formulas. Exact in float64, so tests/frontends/test_pcen_equivalence.py holds the fast
implementation to it, and benchmarks/bench_pcen.py times it as the baseline.

    from benchmarks.pcen_reference import reference_pcen
"""

from __future__ import annotations

import math

import torch


def reference_smoother(energy: torch.Tensor, smoothing: torch.Tensor, init: str) -> torch.Tensor:
    """The smoother: one rfft/irfft pair at the frame count (+ the edge correction)."""
    n_time = energy.shape[-1]
    theta = torch.arange(n_time // 2 + 1, dtype=energy.dtype) * (2 * math.pi / n_time)
    one_minus_z = torch.complex(2 * torch.sin(theta / 2) ** 2, torch.sin(theta))
    z = torch.polar(torch.ones_like(theta), -theta)
    response = smoothing / (one_minus_z + smoothing * z)
    looped = torch.fft.irfft(torch.fft.rfft(energy, dim=-1) * response, n=n_time, dim=-1)
    if init != "loop":
        start = torch.ones_like(energy[..., :1]) if init == "librosa" else energy[..., :1]
        steps = torch.arange(1, n_time + 1, dtype=energy.dtype)
        decay = torch.exp(steps * torch.log1p(-smoothing))
        looped = looped + decay * (start - looped[..., -1:])
    return looped.clamp_min(0.0)


def reference_pcen(energy, smoothing, gain, bias, power, eps, init="loop"):
    smooth = reference_smoother(energy, smoothing, init)
    agc = torch.exp(-gain * torch.log(eps + smooth))
    return bias.pow(power) * torch.expm1(power * torch.log1p(energy * agc / bias))
