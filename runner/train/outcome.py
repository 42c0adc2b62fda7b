"""How a trial ends: its `TrialResult`, the `TrialPruned` signal, and the `reason` a failure gets.

    status, reason = failure_reason(err)   # ("FAILED", "oom"), ("KILLED", "pruned"), ...

The reasons are the MLflow `reason` tag's values (docs/training.md, "Failures"):
`pruned`, `interrupted`, `nan_loss`, `oom`, `disk full at <path>: ...` (not the trial's fault: a
sweep stops and resumes it when run again) or `error: <type>: <first line of the message>`; always
one line of at most `MAX_REASON_CHARS`, never a database's SQL. `run_trial` spells `oom` out with
`oom_reason` (what ran out, what to change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
import torch

from runner.errors import disk_full_message, disk_full_path
from runner.train.loop import NonFiniteLoss

MAX_REASON_CHARS = 300


class TrialPruned(optuna.TrialPruned):
    """Raise from `epoch_callback` to stop the trial early: its run ends KILLED, reason `pruned`.

    A subclass of Optuna's, so a supervisor may raise either.
    """


@dataclass(frozen=True)
class TrialResult:
    """How a trial ended. `metrics` holds the final metrics (empty unless FINISHED)."""

    status: str  # FINISHED | FAILED | KILLED
    reason: str | None  # None when FINISHED
    metrics: dict[str, float]
    run_id: str
    epochs_done: int
    resumed_from_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # per epoch: {"epoch", "metrics"}
    # FAILED by a mistake in the user's input (bad data, a config that only fails at run time):
    # running it again cannot help, so a sweep does not retry it.
    user_error: bool = False
    learned_reason: str | None = None  # FINISHED: why it counts as learned=yes / learned=no

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"


def failure_reason(err: BaseException, where: str = "?") -> tuple[str, str]:
    """(status, reason) of a trial stopped by `err`, as the MLflow `reason` tag spells it.

    where: the place a full disk without a file name is reported at (the tracking store).
    """
    if isinstance(err, optuna.TrialPruned):
        return "KILLED", "pruned"
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        return "KILLED", "interrupted"
    if isinstance(err, NonFiniteLoss):
        return "FAILED", "nan_loss"
    full = disk_full_path(err, where)
    if full is not None:
        return "FAILED", disk_full_message(full)
    if is_out_of_memory(err):
        return "FAILED", "oom"
    return "FAILED", error_reason(err)


def error_reason(err: BaseException) -> str:
    """`error: <type>: <message>`: the message's first line, without a database's SQL
    (SQLAlchemy appends `[SQL: ...]`), cut to MAX_REASON_CHARS."""
    text = str(err).strip()
    message = text.splitlines()[0] if text else ""
    message = message.split("[SQL:")[0].strip()
    reason = (
        f"error: {type(err).__name__}: {message}" if message else f"error: {type(err).__name__}"
    )
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."


def oom_reason(device: torch.device) -> str:
    """The reason of an out-of-memory trial, with what to change: it is not retried, since the
    same batch size with the same neighbours on the GPU would run out again."""
    where = f"on {device}" if device.type == "cuda" else "in host memory"
    return (
        f"oom: out of memory {where}; lower train.batch_size, or run fewer trials per GPU "
        "(--jobs-per-gpu) or at once (--slots)"
    )


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA OOM, Python MemoryError, or torch's CPU allocator failing."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )
