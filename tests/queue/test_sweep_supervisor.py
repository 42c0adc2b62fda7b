"""The supervisor with real processes and stores, children standing in for trials (fast).

`tests/helpers/fake_worker.py --supervise` is `specsweep sweep` with children that speak the worker
protocol but train nothing, so crashes, failures, Ctrl-C and a SIGKILLed supervisor are tested in
seconds each. The crash/failure test is in the fast suite; the signal tests start two
supervisors each (MLflow's import alone takes seconds here), so they are marked slow. The same
scenarios with real trials are in test_sweep_e2e.py (slow).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from helpers.processes import finish as finish_process
from helpers.processes import start_process
from optuna.trial import TrialState

from runner.queue.store import open_store

FAKE = Path(__file__).resolve().parents[1] / "helpers" / "fake_worker.py"
REPO = FAKE.parents[2]


@pytest.fixture(scope="module")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite store created once (creating its tables takes seconds), copied per test."""
    from runner.tracking.experiment import ensure_experiment

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    ensure_experiment(f"sqlite:///{path}", "fake")
    return path


@pytest.fixture(autouse=True)
def _mlflow_store(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")


def write_sweep(tmp_path: Path, **sections) -> Path:
    raw = {
        "name": "fake",
        "grid": {"axes": {"frontend.win_length": [256, 512], "frontend.hop_length": [64, 128]}},
        "eval": {"sets": ["test"]},
        "resources": {"slots": 2},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        "search": {"max_retries": 1},
        **sections,
    }
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def start(tmp_path: Path, plan: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "SPECSWEEP_FAKE_PLAN": json.dumps(plan),
        "SPECSWEEP_FAKE_LOG": str(tmp_path / "runs.log"),
        "SPECSWEEP_FAKE_SPARES": str(tmp_path / "spares.log"),
        "PYTHONPATH": str(REPO),
    }
    return start_process(
        [sys.executable, str(FAKE), "--supervise", str(tmp_path / "fake.yaml")], tmp_path, env
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    return finish_process(proc, timeout)


def runs(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "runs.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def spares(tmp_path: Path) -> set[int]:
    path = tmp_path / "spares.log"
    return {int(line) for line in path.read_text().split()} if path.exists() else set()


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() or _zombie(pid)


def wait_for_starts(tmp_path: Path, n: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while len(runs(tmp_path)) < n:
        assert time.time() < deadline, "children did not start"
        time.sleep(0.1)


def trials(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    store = open_store(f"journal:{tmp_path / '.specsweep/studies/fake.journal'}", "fake")
    return optuna.load_study(study_name="fake", storage=store.storage).get_trials()


def completed_once(tmp_path: Path) -> Counter:
    done = Counter(
        (t.user_attrs["cfg_key"], t.user_attrs["seed"])
        for t in trials(tmp_path)
        if t.state == TrialState.COMPLETE
    )
    return done


def test_crash_is_retried_failure_is_final_rest_once(tmp_path):
    write_sweep(tmp_path)
    plan = {
        "default": {"sleep": 0.2},
        "w256-h128-s0": {"crash_attempts": 1},  # SIGKILLed mid-trial once
        "w512-h64-s0": {"fail_attempts": 99},  # always fails
        "w256-h64-s0": {"learned": 0, "learned_reason": "MAP 0.050 = 2.1x the label prior"},
        "w512-h128-s0": {"learned": 1, "learned_reason": "MAP 0.300 = 12.0x the label prior"},
    }
    code, out = finish(start(tmp_path, plan))
    assert code == 1, out
    started = Counter(r[0] for r in runs(tmp_path))
    assert started == {"w256-h64-s0": 1, "w512-h128-s0": 1, "w256-h128-s0": 2, "w512-h64-s0": 2}
    # Each child saw only its slot's share: no GPU, cores // slots threads.
    cores = len(os.sched_getaffinity(0))  # the cores this process may use (runner/cores.py)
    assert {(r[3], r[4]) for r in runs(tmp_path)} == {("''", str(max(1, cores // 2)))}
    done = completed_once(tmp_path)
    assert len(done) == 3 and set(done.values()) == {1}
    failed = [t for t in trials(tmp_path) if t.user_attrs.get("trial_name") == "w512-h64"]
    assert [t.user_attrs["reason"] for t in failed] == ["error: planned"] * 2
    killed = [t for t in trials(tmp_path) if t.user_attrs.get("trial_name") == "w256-h128"]
    assert killed[0].user_attrs["reason"] == "killed: signal SIGKILL"
    assert "failed for good" in out and "w512-h64-s0" in out
    # The trial that learned nothing is listed with its reason at the end; the others are not.
    assert "learned=no  w256-h64-s0: MAP 0.050 = 2.1x the label prior" in out
    assert "learned=no  w512-h128" not in out and "learned=no  w256-h128" not in out
    assert "1 of 3 complete trial(s) learned little or nothing" in out
    # Every attempt ran in a warm spare (started before its job), one process per attempt, and
    # no spare outlives the sweep.
    pids = [int(r[2]) for r in runs(tmp_path)]
    assert len(set(pids)) == len(pids) and set(pids) <= spares(tmp_path)
    assert all(gone(pid) for pid in spares(tmp_path))


def test_a_crash_is_told_from_a_recorded_failure(tmp_path):
    """Both children exit 1 (ExitCode.FAILED, and what Python exits with on an uncaught
    exception): the one with a result file failed as it recorded; the one without died."""
    write_sweep(tmp_path)
    plan = {
        "default": {"sleep": 0.1},
        "w256-h64-s0": {"crash_exit_attempts": 1},
        "w512-h64-s0": {"fail_attempts": 1},
    }
    code, out = finish(start(tmp_path, plan))
    assert code == 0, out  # both retried once (max_retries 1), then complete
    failed = {
        t.user_attrs["trial_name"]: t.user_attrs["reason"]
        for t in trials(tmp_path)
        if t.state == TrialState.FAIL
    }
    assert failed == {"w256-h64": "killed: exit code 1", "w512-h64": "error: planned"}
    assert len(completed_once(tmp_path)) == 4
    # The threads a child was handed in its job are the ones its environment says.
    assert all(r[4] == r[5] for r in runs(tmp_path))


@pytest.mark.slow
def test_ctrl_c_stops_children_requeues_and_resumes(tmp_path):
    write_sweep(tmp_path)
    proc = start(tmp_path, {"default": {"sleep": 4.0}})
    wait_for_starts(tmp_path, 2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc, timeout=60)
    assert code == 130, out
    assert "Run the same command again to resume" in out
    interrupted = [t for t in trials(tmp_path) if t.user_attrs.get("reason") == "interrupted"]
    assert len(interrupted) == 2 and not completed_once(tmp_path)
    assert spares(tmp_path) and all(gone(pid) for pid in spares(tmp_path))
    code, out = finish(start(tmp_path, {"default": {"sleep": 0.2}}))
    assert code == 0, out
    done = completed_once(tmp_path)
    assert len(done) == 4 and set(done.values()) == {1}


@pytest.mark.slow
def test_second_ctrl_c_kills_at_once_and_resumes(tmp_path):
    write_sweep(tmp_path)
    # The children do not stop on the first Ctrl-C (a fake child stops at once otherwise, and the
    # sweep could be over before the second one arrives): only the second stops them.
    plan = {"default": {"sleep": 600, "stop_s": 600}, "w256-h64-s0": {"sleep": 0.1}}
    proc = start(tmp_path, plan)
    wait_for_starts(tmp_path, 3)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc, timeout=60)
    assert code == 130 and time.time() - t0 < 30, out
    for pid in {int(r[2]) for r in runs(tmp_path)} | spares(tmp_path):
        assert gone(pid)
    code, out = finish(start(tmp_path, {"default": {"sleep": 0.2}}))
    assert code == 0, out
    assert len(completed_once(tmp_path)) == 4


@pytest.mark.slow
def test_sigkilled_supervisor_takes_its_children_and_restart_completes(tmp_path):
    write_sweep(tmp_path)
    proc = start(tmp_path, {"default": {"sleep": 600}})
    wait_for_starts(tmp_path, 2)
    deadline = time.time() + 60
    while len(spares(tmp_path)) < 4:  # the next two spares, waiting beside the running attempts
        assert time.time() < deadline, "no spare children started"
        time.sleep(0.1)
    proc.kill()
    proc.communicate()
    time.sleep(0.5)
    children = {int(r[2]) for r in runs(tmp_path)} | spares(tmp_path)
    assert all(gone(pid) for pid in children)
    running = [t for t in trials(tmp_path) if t.state == TrialState.RUNNING]
    assert len(running) == 2  # their leases name a process that is gone
    code, out = finish(start(tmp_path, {"default": {"sleep": 0.2}}))
    assert code == 0, out
    assert out.count("reaped") == 2
    done = completed_once(tmp_path)
    assert len(done) == 4 and set(done.values()) == {1}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
