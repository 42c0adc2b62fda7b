"""How a trial ends: its `TrialResult`, the `TrialPruned` signal, and the `reason` a failure gets.

    status, reason = failure_reason(err)   # ("FAILED", "oom"), ("KILLED", "pruned"), ...

The reasons are the MLflow `reason` tag's values (docs/training.md, "Failures"):
`pruned`, `interrupted`, `nan_loss`, `oom` or `error: <type>: <first line of the message>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
import torch

from runner.train.loop import NonFiniteLoss


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


def failure_reason(err: BaseException) -> tuple[str, str]:
    """(status, reason) of a trial stopped by `err`, as the MLflow `reason` tag spells it."""
    if isinstance(err, optuna.TrialPruned):
        return "KILLED", "pruned"
    if isinstance(err, (KeyboardInterrupt, SystemExit)):
        return "KILLED", "interrupted"
    if isinstance(err, NonFiniteLoss):
        return "FAILED", "nan_loss"
    if is_out_of_memory(err):
        return "FAILED", "oom"
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return (
        "FAILED",
        f"error: {type(err).__name__}: {message}" if message else f"error: {type(err).__name__}",
    )


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA OOM, Python MemoryError, or torch's CPU allocator failing."""
    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )
