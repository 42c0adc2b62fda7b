"""The supervisor-child protocol (runner.queue.job): its files round-trip, another version is
refused, one exit-code table serves the worker and `specsweep trial`, a crash is not a failure.

Fast: no training (run_trial is replaced by a stand-in that returns a TrialResult). The same
distinction with real processes, a child exiting 1 without a result file beside one that
recorded its failure, is `test_a_crash_is_told_from_a_recorded_failure` in
test_sweep_supervisor.py.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import stat
import time
from pathlib import Path

import pytest
import yaml
from helpers.tiny_sweep import tiny_sections

from runner.cli import main
from runner.errors import UserError
from runner.queue import worker
from runner.queue.job import (
    PROTOCOL,
    ExitCode,
    Job,
    ProtocolError,
    Pruning,
    Result,
    Status,
    Timing,
    ending,
)
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.train.trial import TrialResult

ENDINGS = {  # how run_trial can end -> the code both the worker and `specsweep trial` exit with
    ("FINISHED", None, False): ExitCode.FINISHED,
    ("FAILED", "nan_loss", False): ExitCode.FAILED,
    ("FAILED", "error: UserError: bad.csv line 3", True): ExitCode.USER_ERROR,
    ("KILLED", "pruned", False): ExitCode.PRUNED,
}


@pytest.fixture
def sweep_path(tmp_path) -> Path:
    raw = {
        "name": "job",
        **tiny_sections(tmp_path),
        "search": {"pruning": True, "prune_startup_trials": 5, "prune_warmup_epochs": 1},
        "tracking": {"log_model": "none"},  # `specsweep trial` logs no model after the fake
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def make_job(tmp_path: Path, sweep_path: Path) -> Job:
    sweep = load_sweep(sweep_path)
    spec = expand(sweep)[1]
    return Job(
        spec=spec,
        attempt=2,
        trial_number=7,
        trial_id=8,
        study="job",
        storage_url=f"journal:{tmp_path / 'job.journal'}",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="job",
        log_model="none",
        system_metrics_s=0.0,
        device="cpu",
        threads=3,
        pruning=Pruning.of(sweep),
        status_path=tmp_path / "slot0.status.json",
        result_path=tmp_path / "slot0.result.json",
        log_path=tmp_path / f"{spec.run_name}-a2.log",
        supervisor_pid=1234,
        t_spawn=time.time(),
    )


def test_job_round_trips_through_its_file(tmp_path, sweep_path):
    job = make_job(tmp_path, sweep_path)
    assert job.pruning == Pruning("val_map_test", 5, 1)  # the sweep's settings, typed
    assert Job.from_json(job.to_json()) == job
    path = tmp_path / "slot0.job.json"
    job.write(path)
    assert Job.read(path) == job
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold the storage's password
    data = json.loads(path.read_text())
    assert data["protocol"] == PROTOCOL and data["spec"] == job.spec.to_dict()
    assert job.epochs == job.spec.config.train.epochs


def test_result_and_status_round_trip(tmp_path):
    result = Result(
        status="FINISHED",
        reason=None,
        timing=Timing(1.0, 2.0, 3.0, 4.0, t_spawn_process=0.5, t_warm=0.9),
        metrics={"map_test": 0.5, "train_time_s": 1.5},
        run_id="abc",
        learned_reason="MAP 0.500 = 4.0x the label prior",
        epochs_done=2,
    )
    assert Result.from_json(result.to_json()) == result
    result.write(tmp_path / "r.json")
    assert Result.read(tmp_path / "r.json") == result
    assert Result.read(tmp_path / "missing.json") is None  # the child died before writing it
    status = Status("training", 3, 8, t=5.0, metrics={"train_loss": 0.25})
    status.write(tmp_path / "s.json")
    assert Status.read(tmp_path / "s.json") == status
    assert Status.read(tmp_path / "missing.json") is None


@pytest.mark.parametrize("version", [PROTOCOL + 1, None])
def test_another_protocol_version_is_refused_naming_both(tmp_path, sweep_path, version):
    data = json.loads(make_job(tmp_path, sweep_path).to_json())
    if version is None:
        del data["protocol"]
    else:
        data["protocol"] = version
    path = tmp_path / "old.job.json"
    path.write_text(json.dumps(data))
    message = f"written with protocol version {version}, but this code reads version {PROTOCOL}"
    with pytest.raises(ProtocolError, match=message) as err:
        Job.read(path)
    assert str(path) in str(err.value)
    result = json.loads(Result("FAILED", "x", Timing(1.0, 2.0, 3.0, 4.0)).to_json())
    result["protocol"] = version
    (tmp_path / "r.json").write_text(json.dumps(result))
    with pytest.raises(ProtocolError, match=message):
        Result.read(tmp_path / "r.json")
    # The progress display only skips a status it cannot read.
    (tmp_path / "s.json").write_text(json.dumps({"protocol": version, "phase": "training"}))
    assert Status.read(tmp_path / "s.json") is None


def test_the_public_exit_codes():
    # `specsweep trial`'s documented codes (its docstring): public, they keep their values.
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("FINISHED", 0),
        ("FAILED", 1),
        ("USER_ERROR", 2),
        ("PRUNED", 3),
        ("INTERRUPTED", 128 + signal.SIGINT),
        ("TERMINATED", 128 + signal.SIGTERM),
    ]
    assert UserError.exit_code == ExitCode.USER_ERROR  # what the CLI exits with on a UserError
    for (status, reason, user_error), code in ENDINGS.items():
        assert ExitCode.of(status, reason, user_error) == code
    assert ExitCode.of("KILLED", "interrupted", False) == ExitCode.INTERRUPTED


def test_a_crash_is_not_a_recorded_failure():
    failed = Result("FAILED", "nan_loss", Timing(1.0, 2.0, 3.0, 4.0))
    # Exit code 1 with the result file that says so: the recorded failure (retried as such).
    assert ending(1, failed) == ExitCode.FAILED
    # Exit code 1 without one: an uncaught exception (Python exits 1), i.e. the child died.
    assert ending(1, None) is None
    # A signal, or a code that is not the one its result stands for: died too.
    assert ending(-signal.SIGKILL, None) is None
    assert ending(0, failed) is None
    assert ending(3, Result("KILLED", "pruned", Timing(1.0, 2.0, 3.0, 4.0))) == ExitCode.PRUNED


@pytest.fixture
def fake_trials(monkeypatch):
    """run_trial replaced by one that ends as ENDINGS' key `ending` says; SIGTERM restored."""
    import runner.train.trial

    ending_of: dict[str, tuple] = {}

    def run_trial(spec, **kwargs) -> TrialResult:
        status, reason, user_error = ending_of["now"]
        metrics = {"map_test": 0.5, "train_time_s": 1.0, "samples_per_s": 9.0}
        return TrialResult(
            status=status,
            reason=reason,
            metrics=metrics if status == "FINISHED" else {},
            run_id="run",
            epochs_done=1,
            user_error=user_error,
        )

    monkeypatch.setattr(runner.train.trial, "run_trial", run_trial)
    monkeypatch.setattr(worker, "adopt_finished_run", lambda *args, **kwargs: None)
    handler = signal.getsignal(signal.SIGTERM)
    yield ending_of
    signal.signal(signal.SIGTERM, handler)  # `specsweep trial` installs its own


@pytest.mark.parametrize("how", list(ENDINGS), ids=[k[0] + "-" + str(k[1]) for k in ENDINGS])
def test_worker_and_trial_command_exit_with_one_table(
    tmp_path, sweep_path, fake_trials, capsys, how
):
    fake_trials["now"] = how
    job = make_job(tmp_path, sweep_path)
    job = dataclasses.replace(job, pruning=None)  # no Optuna study to report to here
    code = worker.run(job)
    result = Result.read(job.result_path)
    assert code == result.exit_code == ENDINGS[how]
    assert ending(code, result) == ENDINGS[how]
    assert main(["trial", str(sweep_path), "--index", "1"]) == ENDINGS[how]
