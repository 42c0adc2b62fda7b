"""How long `specsweep plan` takes in a fresh process, and what it imports.

    .venv/bin/python benchmarks/bench_plan.py                     # this checkout, 7 runs
    .venv/bin/python benchmarks/bench_plan.py --code /tmp/old     # another checkout's code
    .venv/bin/python benchmarks/bench_plan.py --sweep sweeps/demo.yaml --runs 11

Each run is `specsweep plan SWEEP` (runner.cli.main) in a new interpreter, in the checkout's
folder with it on PYTHONPATH (as a user editing a sweep file runs it), timed from outside, so interpreter start-up
is included. One extra warm-up run first fills the OS file cache (and, for this checkout, timm's
name list in ~/.cache/specsweep/). Prints a Markdown row for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "timm", "torchvision", "torchaudio", "mlflow", "optuna")

_CHILD = (
    "import sys\n"
    "from runner.cli import main\n"
    "code = main(['plan', sys.argv[1]])\n"
    f"print('IMPORTED', ','.join(m for m in {HEAVY!r} if m in sys.modules) or '-', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_once(code_dir: Path, sweep: str) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(code_dir), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, sweep],
        cwd=code_dir,  # `python -c` puts the working directory first on sys.path
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - start
    imported = next(x for x in proc.stderr.splitlines() if x.startswith("IMPORTED")).split()[1]
    return seconds, imported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, default=REPO, help="the checkout whose code runs")
    parser.add_argument("--sweep", default="sweeps/merlin_part1.yaml")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    run_once(args.code, args.sweep)  # warm-up
    times, imported = [], ""
    for _ in range(args.runs):
        seconds, imported = run_once(args.code, args.sweep)
        times.append(seconds)
    load = os.getloadavg()[0]
    print(
        f"| {args.code} | {args.sweep} | {statistics.median(times):.2f} s | {min(times):.2f} s "
        f"| {max(times):.2f} s | {imported} | {load:.1f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
