"""Benchmark (issue 22): PCEN and exp forward + backward, today's implementation against the one
they replaced (kept below as the baseline: FFT smoother at the frame count, autograd through the
formulas), on one spectrogram batch, one thread, round-robin, medians.

    .venv/bin/python benchmarks/bench_pcen.py                          # (32, 64, 517), the demo's
    .venv/bin/python benchmarks/bench_pcen.py --shape 32 64 1999 --repeats 9

Every parameter requires a gradient and the energies do not, as in training (the spectrogram
comes from a waveform that needs none). The printed speed-up is baseline / new, per case.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pcen_reference import reference_pcen as baseline_pcen
from frontends import functional
from runner.tracking.trial_runs import cpu_model


def baseline_exp(spec, a, floor=1e-12):
    return spec.clamp_min(floor).pow(torch.sigmoid(-a))


def _params(n_bands: int, per_band: bool) -> list[torch.Tensor]:
    shape = (n_bands, 1) if per_band else (1, 1)
    values = (0.025, 0.98, 2.0, 0.5, 1e-6)
    return [torch.full(shape, v).requires_grad_() for v in values]


def _time(fn, energy, params, weights, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(energy, *params)
        (out * weights).sum().backward()
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(32, 64, 517), metavar=("B", "F", "T"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=3, help="calls per timing")
    p.add_argument("--repeats", type=int, default=7, help="round-robin repeats (median reported)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch, bands, frames = args.shape
    gen = torch.Generator().manual_seed(0)
    energy = torch.rand((batch, bands, frames), generator=gen) ** 4
    energy /= energy.amax(dim=(-2, -1), keepdim=True)
    weights = torch.randn(energy.shape, generator=gen)
    cases = {}
    for per_band in (False, True):
        tag = "per band" if per_band else "global"
        params = _params(bands, per_band)
        cases[f"pcen {tag}"] = (baseline_pcen, functional.pcen, params)
        a = [torch.zeros((bands, 1) if per_band else (1, 1)).requires_grad_()]
        cases[f"exp {tag}"] = (baseline_exp, functional.exp_compress, a)
    times = {(name, which): [] for name in cases for which in ("baseline", "new")}
    for old, new, params in cases.values():  # warm-up
        _time(old, energy, params, weights, 1)
        _time(new, energy, params, weights, 1)
    for _ in range(args.repeats):
        for name, (old, new, params) in cases.items():
            times[name, "baseline"].append(_time(old, energy, params, weights, args.steps))
            times[name, "new"].append(_time(new, energy, params, weights, args.steps))
    print(f"machine: {cpu_model()}, {args.threads} thread(s); torch {torch.__version__}")
    print(f"energies {tuple(energy.shape)} float32, forward + backward (parameters only); "
          f"median of {args.repeats} x {args.steps}")  # fmt: skip
    print(f"{'case':<16} {'baseline (ms)':>14} {'new (ms)':>10} {'speed-up':>9}")
    for name in cases:
        old_s = statistics.median(times[name, "baseline"])
        new_s = statistics.median(times[name, "new"])
        print(f"{name:<16} {1000 * old_s:>14.1f} {1000 * new_s:>10.1f} {old_s / new_s:>8.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
