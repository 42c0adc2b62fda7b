"""The one protocol between the supervisor and a child: the job in, the result and exit code out.

    Job(spec=..., attempt=1, ...).write(slot_dir / "slot0.job.json")   # the supervisor
    job = Job.read(path)                                                  # the child
    Status(phase="training", epoch=3, epochs=8).write(job.status_path)   # the child, per epoch
    Result(status="FINISHED", ...).write(job.result_path)                # the child, at the end
    os._exit(result.exit_code)
    ending(proc.returncode, Result.read(job.result_path))               # the supervisor

Three files per slot, each a frozen dataclass serialised in one place (`to_json` / `from_json`),
written atomically (temp file + rename: a reader never sees half a file) and readable by the
owner only (the job holds the storage URL, maybe with a password). Each carries `PROTOCOL`, and
a reader refuses another version with one `ProtocolError` naming both: a warm spare imports the
code on disk when it starts, so code changed under a running sweep must not half-understand a job.

Exit codes: one table, `ExitCode`, for the worker (`runner.queue.worker`, its stand-in
`tests/helpers/fake_worker.py`) and `specsweep trial`, whose documented codes are public:
0 finished, 1 failed, 2 failed on a mistake in the input, 3 pruned, 130 interrupted (SIGINT),
143 terminated (SIGTERM). A child stops on either signal as INTERRUPTED.

Why the result file, not the exit code, is the authority: Python itself exits 1 on an uncaught
exception (and a signal, the OOM killer's SIGKILL included, ends a child with -N), so code 1
alone cannot tell a recorded failure from a crash. The child writes its result first and then exits
with the code that result stands for (`Result.exit_code`); the supervisor believes a code only
when a result file says the same (`ending`). A code without a matching result file means the
child died: its MLflow run is still RUNNING and only the supervisor can close it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.sweep.spec import TrialSpec

if TYPE_CHECKING:
    from runner.sweep.config import SweepConfig

PROTOCOL = 1  # bump on any change to the fields of Job, Result or Status


class ProtocolError(ValueError):
    """A job, result or status file written by another version of this protocol."""


class ExitCode(IntEnum):
    """How a trial ended, as `specsweep trial` and a sweep's child process exit."""

    FINISHED = 0
    FAILED = 1  # recorded failure (nan_loss, oom, error: ...): retried up to search.max_retries
    USER_ERROR = 2  # = UserError.exit_code: failed on the user's input, never retried
    PRUNED = 3  # stopped by the study's pruner: final, never a failure
    INTERRUPTED = 130  # 128 + SIGINT: stopped from outside; the attempt goes back to the queue
    TERMINATED = 143  # 128 + SIGTERM: `specsweep trial`'s code for SIGTERM

    @classmethod
    def of(cls, status: str, reason: str | None, user_error: bool) -> ExitCode:
        """The code of a trial that ended with this MLflow status and reason."""
        if status == "FINISHED":
            return cls.FINISHED
        if reason == "pruned":
            return cls.PRUNED
        if reason == "interrupted":
            return cls.INTERRUPTED
        return cls.USER_ERROR if user_error else cls.FAILED


@dataclass(frozen=True)
class Pruning:
    """The study's median rule, as a child needs it: report `metric` each epoch, ask to stop."""

    metric: str  # val_map_<first evaluation set>
    startup_trials: int
    warmup_epochs: int

    @classmethod
    def of(cls, sweep: SweepConfig) -> Pruning | None:
        """The sweep's pruning settings, or None when pruning is off."""
        search = sweep.search
        if not search.pruning:
            return None
        return cls(
            f"val_map_{sweep.eval.sets[0]}", search.prune_startup_trials, search.prune_warmup_epochs
        )


@dataclass(frozen=True)
class Job:
    """One attempt of one trial, handed by the supervisor to a child of a slot."""

    spec: TrialSpec
    attempt: int  # 1-based attempt at this point: the MLflow run's `attempt` tag
    trial_number: int  # the Optuna trial (the run's `optuna_trial` tag)
    trial_id: int  # the same trial in the storage (for reporting epochs to the pruner)
    study: str
    storage_url: str  # Store.url: journal:/abs/path or the database URL
    tracking_uri: str
    experiment: str
    log_model: str  # tracking.log_model
    system_metrics_s: float
    device: str  # cpu | cuda (the slot's one visible GPU)
    threads: int  # the slot's CPU threads (plan_slots): torch threads, OMP_NUM_THREADS, ...
    pruning: Pruning | None
    status_path: Path
    result_path: Path
    log_path: Path  # a warm spare sends its output here once it takes the job
    supervisor_pid: int  # the child dies with it
    t_spawn: float  # when the supervisor handed the job over (its clock)

    @property
    def epochs(self) -> int:
        return self.spec.config.train.epochs

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["spec"] = self.spec.to_dict()
        data["pruning"] = asdict(self.pruning) if self.pruning else None
        data.update({k: str(data[k]) for k in _JOB_PATHS})
        return _dump(data)

    @classmethod
    def from_json(cls, text: str, where: str = "job") -> Job:
        data = _load(text, where)
        return cls(
            **{
                **data,
                "spec": TrialSpec.from_dict(data["spec"]),
                "pruning": Pruning(**data["pruning"]) if data["pruning"] else None,
                **{k: Path(data[k]) for k in _JOB_PATHS},
            }
        )

    def write(self, path: Path) -> None:
        _write(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Job:
        return cls.from_json(Path(path).read_text(), where=str(path))


_JOB_PATHS = ("status_path", "result_path", "log_path")


@dataclass(frozen=True)
class Timing:
    """Where an attempt's wall time went, in seconds since the epoch (see Result.overhead)."""

    t_spawn: float  # job handed over (the supervisor's clock)
    t_start: float  # the child read the job
    t_ready: float  # imports done, run_trial called
    t_end: float  # run_trial returned
    t_spawn_process: float | None = None  # a warm spare: when its process started
    t_warm: float | None = None  # a warm spare: when its warm-up ended


@dataclass(frozen=True)
class Result:
    """How the child's attempt ended (runner.train.trial.TrialResult, as the supervisor needs it)."""

    status: str  # FINISHED | FAILED | KILLED
    reason: str | None  # None when FINISHED; pruned, interrupted, nan_loss, error: ...
    timing: Timing
    user_error: bool = False  # failed on a mistake in the user's input: not retried
    metrics: dict[str, float] = field(default_factory=dict)  # final metrics (FINISHED)
    run_id: str | None = None
    learned_reason: str | None = None
    epochs_done: int | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.of(self.status, self.reason, self.user_error)

    def overhead(self, now: float) -> dict[str, float]:
        """Where an attempt's wall time went: start-up (job handed over -> run_trial called: imports
        still under way in a spare that was not warm yet, reading the job), run_trial (of which
        training + evaluation are the trial's own work), and bookkeeping (child exit -> Optuna told,
        measured just after the tell). `warm` is 1.0 when the spare had finished its warm-up before
        it got the job (0.0 for a spare still warming up, or a cold child)."""
        timing, metrics = self.timing, self.metrics
        own = float(metrics.get("train_time_s", 0.0)) + float(metrics.get("eval_time_s", 0.0))
        return {
            "startup_s": timing.t_ready - timing.t_spawn,
            "trial_s": timing.t_end - timing.t_ready,
            "train_eval_s": own,
            "bookkeeping_s": now - timing.t_end,
            "wall_s": now - timing.t_spawn,
            "warm": float(timing.t_warm is not None and timing.t_warm <= timing.t_spawn),
        }

    def to_json(self) -> str:
        return _dump(asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str = "result") -> Result:
        data = _load(text, where)
        return cls(**{**data, "timing": Timing(**data["timing"])})

    def write(self, path: Path) -> None:
        _write(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Result | None:
        """The result file, or None when there is none (the child died before writing it)."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return None
        return cls.from_json(text, where=str(path))


@dataclass(frozen=True)
class Status:
    """What a child is doing, rewritten at start-up and after every epoch (the progress display)."""

    phase: str  # starting | training
    epoch: int
    epochs: int | None
    pid: int = field(default_factory=os.getpid)
    t: float = 0.0  # when written
    metrics: dict[str, float] = field(default_factory=dict)  # the epoch's metrics

    def to_json(self) -> str:
        return _dump(asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str = "status") -> Status:
        return cls(**_load(text, where))

    def write(self, path: Path) -> None:
        _write(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> Status | None:
        """The child's last status, or None before its first (or from another protocol)."""
        try:
            return cls.from_json(Path(path).read_text(), where=str(path))
        except (OSError, ValueError, TypeError):
            return None


def ending(code: int, result: Result | None) -> ExitCode | None:
    """How a child that exited with `code` ended, as its result file records it; None when it
    died without recording it (a crash, a signal, the OOM killer; see the module docstring)."""
    if result is None or result.exit_code != code:
        return None
    return result.exit_code


def _dump(data: dict[str, Any]) -> str:
    return json.dumps({"protocol": PROTOCOL, **data})


def _load(text: str, where: str) -> dict[str, Any]:
    data = json.loads(text)
    version = data.pop("protocol", None) if isinstance(data, dict) else None
    if version != PROTOCOL:
        raise ProtocolError(
            f"{where}: written with protocol version {version}, but this code reads version "
            f"{PROTOCOL}; the supervisor and its children run different versions of specsweep "
            "(code changed under a running sweep?): stop the sweep and start it again"
        )
    return data


def _write(path: Path, text: str) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.touch(mode=0o600)  # owner only: a job file holds the storage URL, maybe with a password
    tmp.write_text(text)
    os.replace(tmp, path)
