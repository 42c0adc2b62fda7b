"""Benchmark (issue 16): what each frontend of a Part 2 sweep costs per training step, vs dB.

    .venv/bin/python benchmarks/bench_frontend_cost.py                   # demo_frontends, CPU, 1 thread
    .venv/bin/python benchmarks/bench_frontend_cost.py --sweep sweeps/merlin_part2.yaml --device cuda

A sweep's `train_time_s` ratios on a shared machine mix the frontend's cost with whatever else
ran at the time (in the demo sweep one dB trial trained in 50 s, another in 143 s). This times
the same SGD step (frontend -> backbone -> BCE -> backward -> step, random 3 s waveforms, the
sweep's batch size and model) for every configuration of the sweep in one process, round-robin
(A B C A B C ...) so load drift hits all alike, and reports the median step time and its ratio
to the dB configuration.
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

from models.classifier import create_classifier
from runner.sweep.load import load_sweep
from runner.tracking.trial_runs import cpu_model
from runner.train.loop import make_optimizer


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
    setups = []
    for spec in specs:
        cfg = spec.config
        torch.manual_seed(0)
        model = create_classifier(cfg.frontend, cfg.model, 16).to(device)
        model.train()
        optimizer = make_optimizer(model, cfg.train)
        samples = int(cfg.data.clip_s * cfg.frontend.sample_rate)
        wave = 0.1 * torch.randn(cfg.train.batch_size, samples, device=device)
        target = (torch.rand(cfg.train.batch_size, 16, device=device) < 0.1).float()
        setups.append((spec.name, model, optimizer, wave, target))

    def step(model, optimizer, wave, target) -> None:
        loss = F.binary_cross_entropy_with_logits(model(wave), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times: dict[str, list[float]] = {name: [] for name, *_ in setups}
    for _, *rest in setups:  # warm-up
        step(*rest)
    for _ in range(args.repeats):
        for name, *rest in setups:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            for _ in range(args.steps):
                step(*rest)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) / args.steps)

    base = next((n for n, *_ in setups if n == "db"), setups[0][0])
    base_s = statistics.median(times[base])
    print(
        f"machine: {cpu_model()}, {args.device}, {args.threads} thread(s); torch {torch.__version__}"
    )
    print(f"sweep: {args.sweep}; batch {specs[0].config.train.batch_size}, model "
          f"{specs[0].config.model.name}; median of {args.repeats} x {args.steps} steps")  # fmt: skip
    print(f"{'frontend':<18} {'step (ms)':>10} {'x ' + base:>8}   range of repeats (ms)")
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"{name:<18} {1000 * med:>10.1f} {med / base_s:>8.2f}   "
            f"{1000 * min(values):.1f}-{1000 * max(values):.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
