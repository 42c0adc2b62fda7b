"""Benchmark (issue 16): what each frontend of a Part 2 sweep costs per training step, vs dB.

    .venv/bin/python benchmarks/bench_frontend_cost.py                   # demo_frontends, CPU, 1 thread
    .venv/bin/python benchmarks/bench_frontend_cost.py --sweep sweeps/merlin_part2.yaml --device cuda

A sweep's `train_time_s` ratios on a shared machine mix the frontend's cost with whatever else
ran at the time (in the demo sweep one dB trial trained in 50 s, another in 143 s). This times
the same SGD step (frontend -> backbone -> BCE -> backward -> step, random 3 s waveforms, the
sweep's batch size and model) for every configuration of the sweep in one process, round-robin
(A B C A B C ...) so load drift hits all alike, and reports the median step time and its ratio
to the dB configuration (also the median of the paired per-pass ratios and the ratio of the
fastest repeats, steadier under load). Per configuration it also times the frontend alone,
forward + backward (the backward reaching its learnable parameters, as in the step), and prints
its share of the step.

The step is the trial's step on that device (runner.train.loop): the recipe's autocast
(`train.amp`: bf16 on CUDA by default), channels_last backbone and images, cudnn.benchmark
(`configure_determinism`), and the waveform checked once on the CPU before the copy, never inside
the timed step (the check is a device sync on a GPU). The clock reads synchronise only around
each timed region.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frontends import check_finite_waveform
from models.classifier import create_classifier
from runner.sweep.load import load_sweep
from runner.tracking.trial_runs import cpu_model
from runner.train.loop import Precision, make_optimizer, synchronize
from runner.train.runtime import configure_determinism


def _setup(spec, device: torch.device):
    """(model, optimizer, precision, waveforms, targets) for one configuration, as a trial has them."""
    cfg = spec.config
    torch.manual_seed(0)
    model = create_classifier(cfg.frontend, cfg.model, 16).to(device)
    model.train()
    precision = Precision.for_device(cfg.train, device)
    if precision.channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg.train)
    samples = int(cfg.data.clip_s * cfg.frontend.sample_rate)
    wave = 0.1 * torch.randn(cfg.train.batch_size, samples)
    check_finite_waveform(wave)  # on the CPU, once, as the loader does
    target = (torch.rand(cfg.train.batch_size, 16) < 0.1).float()
    return model, optimizer, precision, wave.to(device), target.to(device)


def step(model, optimizer, precision, wave, target) -> None:
    """One training step as runner.train.loop.train_epoch runs it."""
    with precision.autocast(wave.device):
        image = model.frontend(wave, check_finite=False)
        if precision.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        logits = model.backbone(image)
    loss = F.binary_cross_entropy_with_logits(logits.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def frontend_pass(model, optimizer, precision, wave, target) -> None:
    """The frontend alone, forward + backward (to its parameters, when it has any)."""
    with precision.autocast(wave.device):
        image = model.frontend(wave, check_finite=False)
    if image.requires_grad:
        image.backward(torch.ones_like(image))
    model.frontend.zero_grad(set_to_none=True)


def _timed(fn, setup, steps: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn(*setup)
    synchronize(device)
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", default="sweeps/demo_frontends.yaml")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=4, help="steps per timing")
    p.add_argument("--repeats", type=int, default=5, help="round-robin repeats (median reported)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    all_specs = load_sweep(args.sweep).specs
    specs = [s for s in all_specs if s.seed == all_specs[0].seed]  # one per configuration
    configure_determinism(specs[0].config.train.deterministic, device)
    setups = [(spec.name, _setup(spec, device)) for spec in specs]
    times: dict[str, list[float]] = {name: [] for name, _ in setups}
    own: dict[str, list[float]] = {name: [] for name, _ in setups}
    for _, setup in setups:  # warm-up (cudnn.benchmark picks its kernels here)
        step(*setup)
        frontend_pass(*setup)
    for _ in range(args.repeats):
        for name, setup in setups:
            times[name].append(_timed(step, setup, args.steps, device))
            own[name].append(_timed(frontend_pass, setup, args.steps, device))

    base = next((n for n, *_ in setups if n == "db"), setups[0][0])
    base_s = statistics.median(times[base])
    print(
        f"machine: {cpu_model()}, {args.device}, {args.threads} thread(s); torch {torch.__version__}"
    )
    print(f"sweep: {args.sweep}; batch {specs[0].config.train.batch_size}, model "
          f"{specs[0].config.model.name}; median of {args.repeats} x {args.steps} steps")  # fmt: skip
    amp = setups[0][1][2].amp_dtype
    print(f"step: autocast {amp or 'off'}, channels_last {setups[0][1][2].channels_last}; "
          "frontend = its own forward + backward, share = frontend / step")  # fmt: skip
    # On a loaded machine the ratio of medians drifts with the load; two steadier estimates:
    # `paired` is the median of each repeat's ratio to dB's time in the same round-robin pass,
    # `min` the ratio of the fastest repeats (the least disturbed ones).
    print(
        f"{'frontend':<18} {'step (ms)':>10} {'x ' + base:>8} {'paired':>7} {'min':>6} "
        f"{'frontend (ms)':>14} {'share':>6}   range of step repeats (ms)"
    )
    for name, values in times.items():
        med = statistics.median(values)
        paired = statistics.median(v / b for v, b in zip(values, times[base]))
        lowest = min(values) / min(times[base])
        front = statistics.median(own[name])
        print(
            f"{name:<18} {1000 * med:>10.1f} {med / base_s:>8.2f} {paired:>7.2f} {lowest:>6.2f} "
            f"{1000 * front:>14.1f} {front / med:>6.0%}   "
            f"{1000 * min(values):.1f}-{1000 * max(values):.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
