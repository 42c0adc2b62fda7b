"""Faults a rerun of the same command recovers from, through whole sweeps: real trials (the tiny
sweep), real processes, real journal, MLflow store and (as root) a real full file system. Each
ends, after the documented command, with exactly one finished run per point. Slow.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers.filesystems import small_filesystem
from helpers.processes import finish, start_process
from mlflow import MlflowClient
from test_sweep_e2e import assert_each_point_once, mlflow_runs

from runner.queue.store import open_store
from runner.queue.study import SweepQueue
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.train.checkpoint import CHECKPOINT_FILE, checkpoint_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def sweep(tmp_path: Path, *options: str) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    args = [sys.executable, "-m", "runner.cli", "sweep", "e2e.yaml", "--no-live", *options]
    return finish(start_process(args, tmp_path, env), 600)


def specs(tmp_path: Path):
    return expand(load_sweep(tmp_path / "e2e.yaml"))


def test_damaged_checkpoint_is_set_aside_and_the_trial_starts_over(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, epochs=2)
    first = specs(tmp_path)[0]
    folder = checkpoint_dir(tmp_path / ".specsweep/checkpoints", "e2e", first.cfg_key, first.seed)
    folder.mkdir(parents=True)
    (folder / CHECKPOINT_FILE).write_bytes(b"PK\x03\x04 cut short")  # a truncated zip
    code, out = sweep(tmp_path)
    assert code == 0, out
    runs = assert_each_point_once(tmp_path, 4)
    assert len(runs) == 4  # no attempt failed on it
    (run,) = [r for r in runs if r.data.tags["cfg_key"] == first.cfg_key]
    aside = Path(run.data.tags["damaged_checkpoint"])
    assert aside.name.startswith(f"{folder.name}.damaged-")
    assert aside.read_bytes() == b"PK\x03\x04 cut short"
    # Its log says so, with the path, and holds every epoch's line.
    (log,) = (tmp_path / ".specsweep/runs/e2e/logs").glob(f"{first.run_name}-a1.log")
    text = log.read_text()
    assert str(aside) in text and "epoch 1/2" in text and "epoch 2/2" in text


def test_torn_journal_tail_is_mended_by_the_rerun(tmp_path, tiny_sweep):
    path = tiny_sweep(tmp_path)
    sweep_config = load_sweep(path)
    journal = tmp_path / ".specsweep/studies/e2e.journal"
    store = open_store(f"journal:{journal}", "e2e")
    SweepQueue.open(sweep_config, expand(sweep_config), store).sync()  # a sweep that began...
    with open(journal, "ab") as f:  # ...and was cut off mid-write
        f.write(b'{"op_code": 6, "worker_id": "dead", "trial_id": 0, "user_')
    code, out = sweep(tmp_path)
    assert code == 0, out
    assert "last line was torn" in out and str(journal) in out
    assert "Traceback" not in out
    assert_each_point_once(tmp_path, 4)


def test_full_disk_stops_the_sweep_in_one_line_and_the_rerun_completes(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, epochs=2, max_retries=0)
    checkpoints = tmp_path / ".specsweep/checkpoints"
    with small_filesystem(checkpoints, "32k"):  # a checkpoint of the tiny model is ~1 MB
        code, out = sweep(tmp_path)
    assert code == 1, out
    lines = [line for line in out.splitlines() if line.startswith("specsweep: disk full at")]
    assert lines and lines[-1].endswith(": free space and run the same command again"), out
    assert str(checkpoints) in lines[-1]
    assert "Traceback" not in out and "failed for good" not in out
    # Space freed (the small file system is gone): the same command completes every point once.
    code, out = sweep(tmp_path)
    assert code == 0, out
    assert_each_point_once(tmp_path, 4)


def test_retry_failed_runs_points_that_failed_for_good_again(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, max_retries=1)
    blocker = tmp_path / ".specsweep/checkpoints"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the checkpoints folder belongs")  # every trial crashes
    code, out = sweep(tmp_path)
    assert code == 1, out
    assert "specsweep sweep e2e.yaml --no-live --retry-failed" in out
    # The crash's traceback is in the attempt's log and on its MLflow run; the reason one line.
    runs = mlflow_runs(tmp_path)
    assert len(runs) == 8 and {r.info.status for r in runs} == {"FAILED"}
    reason = runs[0].data.tags["reason"]
    assert reason.startswith("error: NotADirectoryError") and "\n" not in reason
    logs = sorted((tmp_path / ".specsweep/runs/e2e/logs").glob("*-a1.log"))
    assert len(logs) == 4 and "Traceback (most recent call last)" in logs[0].read_text()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    artifacts = [a.path for a in client.list_artifacts(runs[0].info.run_id)]
    assert "traceback.txt" in artifacts
    blocker.unlink()  # the cause fixed: a plain rerun leaves them failed...
    code, out = sweep(tmp_path)
    assert code == 1 and "0 attempt(s) run here" in out, out
    code, out = sweep(tmp_path, "--retry-failed")  # ...the printed command runs them again
    assert code == 0, out
    assert "4 trial(s) that failed for good queued again" in out
    runs = assert_each_point_once(tmp_path, 4)
    attempts = Counter(r.data.tags["attempt"] for r in runs)
    assert attempts == {"1": 4, "2": 4, "3": 4}  # the history is kept


def test_too_many_slots_is_refused_before_anything_starts(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path)
    code, out = sweep(tmp_path, "--slots", "100000")
    assert code == 2 and "--allow-large" in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / ".specsweep").exists()


def test_spares_only_for_slots_that_get_work(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, slots=12, threads_per_slot=1)
    code, out = sweep(tmp_path)
    assert code == 0, out
    spares = list((tmp_path / ".specsweep/runs/e2e/logs").glob("*.spare.log"))
    assert len(spares) <= 4, [p.name for p in spares]  # 4 points: never 12 processes
    assert_each_point_once(tmp_path, 4)
