"""Multi-node costs: specsweep's queue on PostgreSQL vs the journal file, and sweep throughput.

    python benchmarks/bench_multinode.py                  # queue latency, 100 points (~1 min)
    python benchmarks/bench_multinode.py --throughput     # + three real sweeps (~10 min on 2 cores)

Queue latency: the operations a supervisor performs on the shared queue (runner.queue.study.SweepQueue:
open = create the study and enqueue every point under the queue lock; per trial take (lease the
next point), heartbeat (renew the lease) and complete), each timed on its own, on a fresh study in
(a) the local default, Optuna's journal file, and (b) PostgreSQL from runner.servers.postgres on loopback
(so the figures are the database's cost without a network). Trials last minutes; a supervisor
does a handful of these per trial plus one heartbeat per storage.heartbeat_s.

Throughput (--throughput): the same tiny 8-point sweep (sweeps/multinode_demo.yaml's model and
data, one more axis) with the same CPU budget (2 slots of 1 thread each), run three ways: one
supervisor on the local stores (journal + sqlite:///mlflow.db), one supervisor on the shared
servers (PostgreSQL + `specsweep server`), and two supervisors of one slot each on the shared
servers (two "nodes" on one machine). Trials per hour = 8 / wall time from launch to the last
supervisor's exit (start-up included, as a user sees it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from runner.queue.store import open_store
from runner.queue.study import SweepQueue
from runner.servers import postgres
from runner.sweep.load import sweep_from_dict

ROOT = Path(__file__).resolve().parents[1]
SPECSWEEP = str(Path(sys.executable).with_name("specsweep"))
OPS = ("take", "heartbeat", "complete")


# --- queue latency -------------------------------------------------------------------------------


def bench_queue(url: str | None, n_points: int, name: str) -> tuple[float, dict[str, list[float]]]:
    """Seconds to open (enqueue every point) and per-op times in ms over one pass of the queue."""
    lrs = [round(0.001 * (i + 1), 6) for i in range(n_points)]
    sweep = sweep_from_dict({"name": name, "grid": {"axes": {"train.lr": lrs}}})
    specs = sweep.specs
    start = time.perf_counter()
    queue = SweepQueue.open(sweep, specs, open_store(url, sweep.name))
    queue.sync()  # enqueue every point (otherwise the first take() does it)
    open_s = time.perf_counter() - start
    times: dict[str, list[float]] = {op: [] for op in OPS}

    def timed(op, fn, *args):
        t0 = time.perf_counter()
        result = fn(*args)
        times[op].append((time.perf_counter() - t0) * 1e3)
        return result

    while (job := timed("take", queue.take)) is not None:
        timed("heartbeat", queue.heartbeat, job)
        timed("complete", queue.complete, job, [0.5])
    times["take"].pop()  # the last take found the queue empty
    assert len(times["complete"]) == n_points
    return open_s, times


def queue_table(n_points: int, pg_url: str) -> str:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)  # the journal goes under ./.specsweep/studies/
        try:
            results["journal file (local default)"] = bench_queue(None, n_points, "bench-queue")
        finally:
            os.chdir(cwd)
    results["PostgreSQL (loopback)"] = bench_queue(pg_url, n_points, "bench-queue")
    lines = [
        f"{n_points} points; open = create the study and enqueue every point (s); per operation:"
        " median / p95 in ms",
        f"| storage | open + enqueue (s) | {' | '.join(OPS)} |",
        f"| --- | --- | {' | '.join('---' for _ in OPS)} |",
    ]
    for storage, (open_s, times) in results.items():
        cells = [
            f"{statistics.median(times[op]):.1f} / {statistics.quantiles(times[op], n=20)[-1]:.1f}"
            for op in OPS
        ]
        lines.append(f"| {storage} | {open_s:.2f} | {' | '.join(cells)} |")
    return "\n".join(lines)


# --- throughput ----------------------------------------------------------------------------------


def throughput_sweep(path: Path, data_dir: Path, name: str, slots: int) -> Path:
    raw = yaml.safe_load((ROOT / "sweeps/multinode_demo.yaml").read_text())
    raw["name"] = name
    raw["data"]["cache_dir"] = str(data_dir / "cache")
    raw["data"]["synthetic"]["output_dir"] = str(data_dir / "synthetic")
    raw["grid"]["axes"]["frontend.hop_length"] = [128, 256]
    raw["resources"] = {"slots": slots, "threads_per_slot": 1}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_supervisors(files: list[Path], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [SPECSWEEP, "sweep", str(f), "--no-live"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for f in files
    ]
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed:\n{out}")
    return time.perf_counter() - start


def throughput_table(pg: postgres.PostgresServer) -> str:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPECSWEEP_")}
        env.update(PGPASSWORD=pg.password(), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
        # The synthetic audio once, before the clock starts.
        warm = throughput_sweep(tmp / "warm.yaml", tmp, "warm", 1)
        spec = sweep_from_dict(yaml.safe_load(warm.read_text())).specs[0]
        from runner.data import load_dataset

        load_dataset(spec.config.data, spec.config.frontend.sample_rate, ("test",), seed=0)

        port = postgres.free_port()
        server = subprocess.Popen(
            [SPECSWEEP, "server", "--port", str(port), "--workers", "1"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            uri = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    urllib.request.urlopen(f"{uri}/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("specsweep server did not start") from None
                    time.sleep(1)
            shared = {**env, "SPECSWEEP_STORAGE": pg.url(), "SPECSWEEP_TRACKING_URI": uri}
            rows = []
            local = tmp / "local"
            local.mkdir()
            wall = run_supervisors(
                [throughput_sweep(local / "t.yaml", tmp, "tp-local", 2)], env, local
            )
            rows.append(("1 supervisor x 2 slots, journal + sqlite (local)", wall))
            wall = run_supervisors(
                [throughput_sweep(tmp / "a.yaml", tmp, "tp-one", 2)], shared, tmp
            )
            rows.append(("1 supervisor x 2 slots, PostgreSQL + MLflow server", wall))
            two = [throughput_sweep(tmp / f"b{i}.yaml", tmp, "tp-two", 1) for i in range(2)]
            wall = run_supervisors(two, shared, tmp)
            rows.append(("2 supervisors x 1 slot, PostgreSQL + MLflow server", wall))
        finally:
            server.terminate()
            server.wait(60)
    lines = [
        "8 trials (1 epoch each), 2 slots x 1 thread in every case; wall time from launch to exit",
        "| setup | wall (s) | trials / hour |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {label} | {wall:.0f} | {8 * 3600 / wall:.0f} |" for label, wall in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100, help="queue size for the latency part")
    parser.add_argument(
        "--throughput", action="store_true", help="also run the three tiny sweeps (~10 min)"
    )
    args = parser.parse_args(argv)
    with postgres.temporary_server() as pg:
        print(queue_table(args.points, pg.url(with_password=True)), flush=True)
        if args.throughput:
            print()
            print(throughput_table(pg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
