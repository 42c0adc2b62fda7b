"""One trial end to end: data -> frontend + backbone -> train -> MAP per evaluation set -> MLflow.

    result = run_trial(spec, tracking_uri="sqlite:///mlflow.db")
    result.status, result.reason, result.metrics["map_test"], result.run_id

A trial is one grid point and one seed (`runner.sweep.spec.TrialSpec`). It

- opens an MLflow run first (so a trial that fails while loading data still leaves a run saying
  why), with the resolved config as params, `config.yaml` and `env.json`;
- resumes from `.specsweep/checkpoints/<sweep>/<cfg_key>-s<seed>/last.pt` when an earlier attempt
  left one, re-logging that attempt's epochs into the new run, and ends the earlier run as KILLED
  (`interrupted`) if its process died with it still RUNNING;
- trains epoch by epoch, evaluating every `eval.every_n_epochs` and after the last epoch, logging
  `train_loss`, `val_map_<set>` and `epoch_time_s` with `step=epoch`, writing a checkpoint, and
  calling `epoch_callback(epoch, metrics)` (which may raise `TrialPruned`);
- logs the final epoch's metrics (never the best epoch's), per-class AP tables, the preview and
  what the learnable compressions learned (`frontend_params.json`);
- ends the run FINISHED only when all of that succeeded. Otherwise FAILED with reason `nan_loss`,
  `oom: ...` (never retried: the same batch on the same GPU does not fit the next time either)
  or `error: <type>: <message>`, or KILLED with `pruned` or `interrupted` (Ctrl-C / SIGTERM,
  re-raised after the run is marked).

The phases' work is `runner.train.running`; the device and seeds `runtime`; how a trial ends
(`TrialResult`, `TrialPruned`, the failure reasons) `outcome`; the artifacts besides metrics
`artifacts`. The names callers use are importable from here.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from pathlib import Path
from typing import Any

import torch

from runner.errors import UserError
from runner.servers.secrets import mask_url
from runner.sweep.spec import TrialSpec
from runner.tracking import logged_models, system_metrics
from runner.tracking.trial_runs import TrialTracker
from runner.train import checkpoint as ckpt
from runner.train import inference_cost
from runner.train.artifacts import FRONTEND_PARAMS_ARTIFACT
from runner.train.outcome import TrialPruned, TrialResult, error_reason, failure_reason, oom_reason
from runner.train.running import EpochCallback, RunningTrial
from runner.train.runtime import resolve_device

__all__ = [
    "DEFAULT_CHECKPOINT_ROOT",
    "DEFAULT_MODEL_ROOT",
    "FRONTEND_PARAMS_ARTIFACT",
    "EpochCallback",
    "TrialPruned",
    "TrialResult",
    "resolve_device",
    "run_trial",
]

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_ROOT = ".specsweep/checkpoints"
DEFAULT_MODEL_ROOT = logged_models.DEFAULT_MODEL_ROOT
TRACEBACK_ARTIFACT = "traceback.txt"


def run_trial(
    spec: TrialSpec,
    *,
    tracking_uri: str,
    experiment: str | None = None,
    attempt: int = 1,
    extra_tags: dict[str, Any] | None = None,
    epoch_callback: EpochCallback | None = None,
    device: str | None = None,
    threads: int | None = None,
    checkpoint_root: str | Path = DEFAULT_CHECKPOINT_ROOT,
    log_model: str = "none",
    model_root: str | Path = DEFAULT_MODEL_ROOT,
    system_metrics_s: float = 0.0,
) -> TrialResult:
    """Run `spec` to the end and log it to MLflow at `tracking_uri` (experiment: the sweep's name).

    device: "cpu", "cuda", "cuda:1"...; None = CUDA when available. threads: torch CPU threads.
    log_model: `tracking.log_model` (`all`: log this trial's MLflow model; `best`: leave its
    weights under `model_root` for `runner.tracking.logged_models.log_best_models`; `none`).
    system_metrics_s: MLflow system metrics every this many seconds (0: none).
    Returns how the trial ended; only Ctrl-C / SIGTERM (KeyboardInterrupt, SystemExit) propagate,
    after the run has been marked KILLED `interrupted`.
    """
    dev = resolve_device(device)
    # The trial's thread budget, decided here once and handed down (None: torch's default).
    threads = torch.get_num_threads() if threads is None else threads
    torch.set_num_threads(threads)
    tracker = TrialTracker.start(
        tracking_uri, experiment or spec.sweep, spec, attempt=attempt, extra_tags=extra_tags
    )
    trial = RunningTrial(spec, tracker, dev, Path(checkpoint_root), tracking_uri, threads=threads)
    monitor = system_metrics.start(tracker.run_id, tracking_uri, system_metrics_s)
    try:
        tracker.log_config(spec)
        tracker.log_environment(str(dev))
        trial.setup()
        trial.resume()
        trial.train(epoch_callback)
        metrics = trial.finish()
        trial.keep_model(log_model, Path(model_root))
        metrics.update(inference_cost.measure_trial(trial))
    except BaseException as err:
        status, reason = failure_reason(err, store_path(tracking_uri))
        if reason == "oom":
            reason = oom_reason(dev)
        log.warning("trial %s: %s (%s)", spec.run_name, status, reason)
        system_metrics.stop(monitor)
        if reason.startswith("error: ") and not isinstance(err, UserError):  # where it happened
            log_traceback(tracker, err)
        tracker.end(status, reason)
        if reason == "pruned":  # final: an Optuna-pruned trial is never resumed
            ckpt.remove_checkpoint(trial.checkpoint_dir)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        # A UserError or an out-of-memory: the same attempt would fail the same way again.
        final = isinstance(err, UserError) or reason.startswith("oom")
        return dataclasses.replace(trial.result(status, reason, {}), user_error=final)
    system_metrics.stop(monitor)
    tracker.end("FINISHED")
    ckpt.remove_checkpoint(trial.checkpoint_dir)
    return trial.result("FINISHED", None, metrics)


def log_traceback(tracker: TrialTracker, err: BaseException) -> None:
    """The full traceback: to this process's log (the attempt's log file in a sweep) and to the
    run as `traceback.txt`; the run's `reason` tag stays its one-line summary."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    log.error("the traceback of the failure above:\n%s", text.rstrip())
    try:
        tracker.log_text(TRACEBACK_ARTIFACT, text)
    except Exception as log_err:  # the store may be what failed; the log file still has it
        log.warning("traceback not logged to MLflow: %s", error_reason(log_err))


def store_path(tracking_uri: str) -> str:
    """Where a full disk that names no file was writing: the tracking store (its file, for
    SQLite), with any password masked."""
    if tracking_uri.startswith("sqlite:///"):
        return tracking_uri[len("sqlite:///") :]
    return mask_url(tracking_uri)
