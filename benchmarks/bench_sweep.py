"""Sweep orchestration: per-trial overhead, and 1 slot x 2 threads against 2 slots x 1 thread.

    python benchmarks/bench_sweep.py            # overhead + scaling on the tiny sweep (minutes)
    python benchmarks/bench_sweep.py --demo     # also: wall time of `make sweep` (the demo sweep)

The tiny sweep: 4 trials (a 2x2 grid), a tiny timm model on tiny synthetic audio, 2 epochs.
Each measurement runs the real supervisor and real children in a fresh tmp dir (fresh Optuna
journal and MLflow SQLite store). Per finished trial the worker reports its timestamps, so the
wall time of an attempt splits into

    startup      job handed to the slot's child -> run_trial called (what is left of the
                 child's imports: all of them for a cold child, none for a warm spare)
    trial setup  run_trial minus training and evaluation (MLflow run + params + artifacts,
                 data loading from the cache, model construction)
    train+eval   the trial's own work (train_time_s + eval_time_s as it logs them)
    bookkeeping  child exit -> Optuna told (result file, tell, retry sync)

Orchestration overhead = startup + bookkeeping: what running a trial under the supervisor
costs beyond running it in place.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.tracking.trial_runs import cpu_model  # noqa: E402  (after the path insert)


def tiny_sweep(
    where: Path, data: Path, *, slots: int, threads: int, epochs: int = 2, points: int = 4
) -> Path:
    raw = {
        "name": "bench",
        "data": {
            "kind": "synthetic",
            "clip_s": 1.5,
            "cache_dir": str(data / "cache"),
            "synthetic": {
                "n_species": 4,
                "n_train": 64,
                "n_test": 32,
                "n_field": 8,
                "output_dir": str(data / "synthetic"),
            },
        },
        "frontend": {
            "sample_rate": 22050,
            "win_length": 512,
            "hop_length": 256,
            "scale": "mel",
            "n_mels": 32,
            "image_size": [32, 64],
        },
        "model": {"name": "mobilenetv3_small_050", "pretrained": "none"},
        "train": {
            "epochs": epochs,
            "batch_size": 16,
            "optimizer": "sgd",  # the recipe the recorded figures ran
            "lr": 0.1,
            "weight_decay": 0.0001,
            "schedule": "piecewise",
            "milestones": [100],
            "num_workers": 0,
        },
        "eval": {"sets": ["test"]},
        "grid": {"axes": grid_axes(points)},
        "resources": {"slots": slots, "threads_per_slot": threads},
        "tracking": {"uri": f"sqlite:///{where / 'mlflow.db'}"},
    }
    path = where / "bench.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def grid_axes(points: int) -> dict:
    """The tiny sweep's grid: 4 points (scale x window), or 8 (x hop) for more trials per slot."""
    axes = {"frontend.scale": ["mel", "linear"], "frontend.win_length": [256, 512]}
    if points == 8:
        axes["frontend.hop_length"] = [256, 128]
    elif points != 4:
        raise SystemExit(f"--points {points}: use 4 or 8")
    return axes


def run_tiny(
    data: Path, *, slots: int, threads: int, epochs: int = 2, points: int = 4
) -> tuple[float, list[dict]]:
    """Run the tiny sweep in a fresh dir; (wall seconds, per-trial overhead records)."""
    from runner.queue.progress import Progress
    from runner.queue.slots import plan_slots
    from runner.queue.store import open_store
    from runner.queue.study import SweepQueue
    from runner.queue.supervisor import Supervisor
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep
    from runner.tracking.experiment import ensure_experiment

    where = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    cwd = os.getcwd()
    os.chdir(where)
    try:
        sweep = load_sweep(
            tiny_sweep(where, data, slots=slots, threads=threads, epochs=epochs, points=points)
        )
        ensure_experiment(sweep.tracking.uri, sweep.experiment)  # store creation is not per trial
        queue = SweepQueue.open(sweep, expand(sweep), open_store(None, sweep.name))
        supervisor = Supervisor(
            sweep,
            queue,
            plan_slots(sweep.resources),
            tracking_uri=sweep.tracking.uri,
            experiment=sweep.experiment,
            progress=Progress.create("bench", live=False),
        )
        t0 = time.perf_counter()
        outcome = supervisor.run()
        wall = time.perf_counter() - t0
        assert queue.counts().complete == points, queue.counts()
        return wall, outcome.overheads
    finally:
        os.chdir(cwd)
        shutil.rmtree(where, ignore_errors=True)


def make_data(data: Path) -> None:
    from runner.data import load_dataset
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep

    spec = expand(load_sweep(tiny_sweep(data, data, slots=1, threads=1)))[0]
    load_dataset(spec.config.data, spec.config.frontend.sample_rate, ("test",), seed=0)


def print_overheads(label: str, overheads: list[dict]) -> None:
    rows = {k: mean(o[k] for o in overheads) for k in overheads[0]}
    setup = rows["trial_s"] - rows["train_eval_s"]
    print(
        f"  {label} (mean of {len(overheads)}): wall {rows['wall_s']:.2f} s = "
        f"startup {rows['startup_s']:.2f} s + trial setup {setup:.2f} s + "
        f"train+eval {rows['train_eval_s']:.2f} s + bookkeeping {rows['bookkeeping_s']:.2f} s"
    )
    print(
        f"    orchestration overhead (startup + bookkeeping): "
        f"{rows['startup_s'] + rows['bookkeeping_s']:.2f} s; with trial setup: "
        f"{rows['startup_s'] + rows['bookkeeping_s'] + setup:.2f} s"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo", action="store_true", help="also time `make sweep` on the demo sweep"
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs per tiny trial (default 2)")
    parser.add_argument(
        "--points",
        type=int,
        default=4,
        help="tiny grid points: 4 (default) or 8; with more trials per slot and longer trials "
        "(--epochs), most trials find their slot's warm spare ready",
    )
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}")
    data = Path(tempfile.mkdtemp(prefix="bench-sweep-data-"))
    try:
        make_data(data)
        results = {}
        for slots, threads in ((1, 2), (2, 1)):
            wall, overheads = run_tiny(
                data, slots=slots, threads=threads, epochs=args.epochs, points=args.points
            )
            results[(slots, threads)] = wall
            rate = args.points / wall * 3600
            print(
                f"\ntiny sweep, {slots} slot(s) x {threads} thread(s), {args.epochs} epochs: "
                f"{args.points} trials in {wall:.1f} s = {rate:.0f} trials/hour"
            )
            for label, group in (
                ("all trials", overheads),
                ("warm spare ready when the job came", [o for o in overheads if o.get("warm")]),
                (
                    "spare still warming up, or cold child",
                    [o for o in overheads if not o.get("warm")],
                ),
            ):
                if group:
                    print_overheads(label, group)
        ratio = results[(1, 2)] / results[(2, 1)]
        print(f"\nthroughput 2 slots x 1 thread / 1 slot x 2 threads: {ratio:.2f}x")
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if args.demo:
        print("\n`make sweep` (sweeps/demo.yaml) in a copy of the project with a fresh store:")
        where = Path(tempfile.mkdtemp(prefix="bench-demo-"))
        for name in ("sweeps", "Makefile", "pyproject.toml"):
            src = ROOT / name
            (shutil.copytree if src.is_dir() else shutil.copy2)(
                src, where / name
            )  # keep mtimes: no reinstall
        (where / ".venv").symlink_to(ROOT / ".venv")
        t0 = time.perf_counter()
        code = subprocess.call(["make", "sweep", "ARGS=--no-live"], cwd=where)
        print(f"make sweep: exit {code}, {time.perf_counter() - t0:.0f} s wall")
        shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
