"""`specsweep sweep` end to end: real trials (tiny model, tiny synthetic audio), real processes,
real Optuna journal and MLflow SQLite stores in tmp dirs. All slow (`make test-slow`).

Each test writes a tiny sweep (a 2x2 grid, 2 slots, tiny model), runs `specsweep sweep` as a
process, does something unkind to it (SIGKILL a child or the supervisor, Ctrl-C), runs it again
where the scenario says so, and reads both stores back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from helpers.processes import finish as finish_process
from helpers.processes import start_process
from optuna.trial import TrialState

from runner.queue.store import open_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    return start_process(
        [sys.executable, "-m", "runner.cli", "sweep", "e2e.yaml", "--no-live"], tmp_path, env
    )


def finish(proc: subprocess.Popen, timeout: float = 500) -> tuple[int, str]:
    return finish_process(proc, timeout)


def wait_until(condition, timeout: float = 300, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def slot_file(tmp_path: Path, name: str) -> Path:
    """The newest supervisor's slot file (each supervisor has a folder <host>-<pid>/ of its own)."""
    paths = sorted(tmp_path.glob(f".specsweep/runs/e2e/*/{name}"), key=lambda p: p.stat().st_mtime)
    return paths[-1] if paths else tmp_path / name


def slot_status(tmp_path: Path, slot: int) -> dict:
    try:
        return json.loads(slot_file(tmp_path, f"slot{slot}.status.json").read_text())
    except (OSError, ValueError):
        return {}


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def optuna_trials(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    store = open_store(f"journal:{tmp_path / '.specsweep/studies/e2e.journal'}", "e2e")
    return optuna.load_study(study_name="e2e", storage=store.storage).get_trials()


def mlflow_runs(tmp_path: Path) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("e2e")
    return client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`specsweep.kind` = 'trial'",
        max_results=1000,
    )


def assert_each_point_once(tmp_path: Path, n_points: int) -> list:
    """One COMPLETE Optuna trial and one FINISHED MLflow run per point; nothing else FINISHED."""
    complete = Counter(
        (t.user_attrs["cfg_key"], t.user_attrs["seed"])
        for t in optuna_trials(tmp_path)
        if t.state == TrialState.COMPLETE
    )
    assert len(complete) == n_points and set(complete.values()) == {1}
    runs = mlflow_runs(tmp_path)
    finished = Counter(
        (r.data.tags["cfg_key"], int(r.data.tags["seed"]))
        for r in runs
        if r.info.status == "FINISHED"
    )
    assert finished == complete
    for r in runs:
        if r.info.status == "FINISHED":
            assert "map_test" in r.data.metrics and "train_time_s" in r.data.metrics
            assert r.data.tags["optuna_trial"].isdigit()
    return runs


def test_tiny_sweep_runs_each_point_exactly_once(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path)
    code, out = finish(start(tmp_path))
    assert code == 0, out
    runs = assert_each_point_once(tmp_path, 4)
    assert len(runs) == 4  # no failed or duplicate attempt either
    assert "trials by MAP" in out and "make report SWEEP=e2e.yaml" in out
    # Started again: nothing to do, nothing run twice.
    code, out = finish(start(tmp_path))
    assert code == 0 and "0 attempt(s) run here" in out, out
    assert len(mlflow_runs(tmp_path)) == 4


def test_sigkilled_child_is_retried_and_its_run_marked(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, epochs=3)
    proc = start(tmp_path)
    wait_until(lambda: slot_status(tmp_path, 0).get("epoch", 0) >= 1, what="an epoch on slot 0")
    victim_job = json.loads(slot_file(tmp_path, "slot0.job.json").read_text())
    victim = slot_status(tmp_path, 0)["pid"]  # the child running slot 0's job (a former spare)
    assert victim in children(proc.pid)
    os.kill(victim, signal.SIGKILL)
    code, out = finish(proc)
    assert code == 0, out
    assert "killed: signal SIGKILL" in out
    runs = assert_each_point_once(tmp_path, 4)
    key = victim_job["spec"]["cfg_key"]
    attempts = {r.data.tags["attempt"]: r for r in runs if r.data.tags["cfg_key"] == key}
    assert (
        attempts["1"].info.status in ("FAILED", "KILLED")
        and attempts["1"].data.tags["reason"] == "killed"
    )
    assert attempts["2"].info.status == "FINISHED"


def test_sigkilled_supervisor_restarts_without_duplicates(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, epochs=2)
    proc = start(tmp_path)
    wait_until(lambda: slot_status(tmp_path, 0).get("epoch", 0) >= 1, what="an epoch on slot 0")
    proc.kill()
    proc.communicate()
    code, out = finish(start(tmp_path))
    assert code == 0, out
    assert "reaped" in out
    runs = assert_each_point_once(tmp_path, 4)
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_always_failing_point_fails_after_retries(tmp_path, tiny_sweep):
    # lr 1e30 diverges in the first steps: the trial fails with reason nan_loss, every time.
    grid = {"axes": {"frontend.scale": ["mel", "linear"], "train.lr": [0.1, 1e30]}}
    tiny_sweep(tmp_path, grid=grid)
    code, out = finish(start(tmp_path))
    assert code == 1, out
    assert "failed for good" in out
    runs = mlflow_runs(tmp_path)
    bad = [r for r in runs if r.data.params["train.lr"] not in ("0.1",)]
    good = [r for r in runs if r.data.params["train.lr"] == "0.1"]
    assert len(good) == 2 and all(r.info.status == "FINISHED" for r in good)
    assert len(bad) == 4  # 2 points x (1 try + 1 retry)
    assert all(r.info.status == "FAILED" and r.data.tags["reason"] == "nan_loss" for r in bad)


def test_ctrl_c_then_restart_resumes(tmp_path, tiny_sweep):
    tiny_sweep(tmp_path, epochs=3)
    proc = start(tmp_path)
    wait_until(lambda: slot_status(tmp_path, 1).get("epoch", 0) >= 1, what="an epoch on slot 1")
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc)
    assert code == 130, out
    runs = mlflow_runs(tmp_path)
    stopped = [r for r in runs if r.info.status == "KILLED"]
    assert stopped and all(r.data.tags["reason"] == "interrupted" for r in stopped)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    code, out = finish(start(tmp_path))
    assert code == 0, out
    assert_each_point_once(tmp_path, 4)


def test_tpe_with_pruning_reports_pruned_trials(tmp_path, tiny_sweep):
    # Half the points cannot learn (lr 1e-6). TPE's first trials are seeded random draws: with
    # seed 2 it runs the two lr 0.2 points first (read off a replay of the queue with instant results), so on
    # one slot the median rule has two finished trials to compare the lr 1e-6 ones against.
    grid = {"axes": {"train.lr": [0.2, 1e-6], "frontend.scale": ["mel", "linear"]}}
    search = {
        "sampler": "tpe",
        "n_trials": 4,
        "seed": 2,
        "pruning": True,
        "prune_startup_trials": 2,
        "prune_warmup_epochs": 0,
    }
    tiny_sweep(tmp_path, epochs=2, grid=grid, search=search, slots=1)
    code, out = finish(start(tmp_path), timeout=900)
    assert code == 0, out  # pruned is never a failure
    trials = [t for t in optuna_trials(tmp_path) if "ignored" not in t.user_attrs]
    states = Counter(t.state for t in trials)
    assert states[TrialState.PRUNED] >= 1, out
    assert states[TrialState.COMPLETE] + states[TrialState.PRUNED] == 4
    assert states[TrialState.FAIL] == 0
    assert "pruned" in out
    for t in trials:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["trial_name"].startswith("lr1e-06")
    pruned_runs = [r for r in mlflow_runs(tmp_path) if r.data.tags.get("reason") == "pruned"]
    assert len(pruned_runs) == states[TrialState.PRUNED]
    assert all(r.info.status == "KILLED" for r in pruned_runs)
