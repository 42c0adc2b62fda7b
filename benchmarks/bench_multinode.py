"""Queue latency: Optuna on PostgreSQL vs the local journal file (enqueue, ask, tell per trial).

    python benchmarks/bench_multinode.py            # 200 trials per storage
    python benchmarks/bench_multinode.py --trials 500

A sweep's queue operations are a few per trial (enqueue once, ask, a heartbeat every few seconds,
tell), against trials that last minutes: this measures how far they are from mattering. Each
storage gets a fresh study; PostgreSQL is a private server started by runner.postgres (installed
with apt when missing) on loopback, so the figures are the database's cost without a network.
Each operation is timed on its own; the table gives the median and the 95th percentile in ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

import optuna

from runner import postgres
from runner.remote import engine_kwargs

optuna.logging.set_verbosity(optuna.logging.WARNING)


def time_ops(storage, n_trials: int) -> dict[str, list[float]]:
    """Per-operation wall times in ms: enqueue_trial, ask (takes a queued trial), a user-attr
    heartbeat, tell."""
    study = optuna.create_study(study_name="bench", storage=storage, load_if_exists=True)
    times: dict[str, list[float]] = {"enqueue": [], "ask": [], "heartbeat": [], "tell": []}

    def timed(name, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        times[name].append((time.perf_counter() - start) * 1e3)
        return result

    for i in range(n_trials):
        timed("enqueue", study.enqueue_trial, {"frontend.win_length": 256 + i})
    for _ in range(n_trials):
        trial = timed("ask", study.ask)
        timed("heartbeat", trial.set_user_attr, "lease", {"t": time.time()})
        timed("tell", study.tell, trial, 0.5)
    return times


def summary(times: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    return {
        op: (statistics.median(ms), statistics.quantiles(ms, n=20)[-1]) for op, ms in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    args = parser.parse_args(argv)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        backend = optuna.storages.journal.JournalFileBackend(f"{tmp}/bench.journal")
        results["journal file"] = summary(
            time_ops(optuna.storages.JournalStorage(backend), args.trials)
        )
    with postgres.temporary_server() as server:
        url = server.url(with_password=True)
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))
        results["PostgreSQL (loopback)"] = summary(time_ops(storage, args.trials))
        storage.engine.dispose()

    ops = ["enqueue", "ask", "heartbeat", "tell"]
    print(f"{args.trials} trials; per operation: median / p95 in ms")
    print(f"| storage | {' | '.join(ops)} |")
    print(f"| --- | {' | '.join('---' for _ in ops)} |")
    for name, stats in results.items():
        cells = [f"{stats[op][0]:.1f} / {stats[op][1]:.1f}" for op in ops]
        print(f"| {name} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
