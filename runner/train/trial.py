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
  `oom` or `error: <message>`, or KILLED with `pruned` or `interrupted` (Ctrl-C / SIGTERM, re-raised
  after the run is marked).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from models.classifier import create_classifier
from runner.errors import UserError
from runner.sweep.spec import TrialSpec
from runner.tracking import logged_models, system_metrics
from runner.tracking.trial_runs import TrialTracker, mark_interrupted
from runner.train import checkpoint as ckpt
from runner.train.loop import (
    NonFiniteLoss,
    Precision,
    make_optimizer,
    peak_memory_mb,
    predict,
    train_one_epoch,
)
from runner.train.metrics import SetMetrics, chance_map, evaluate_scores, label_prior_map
from runner.train.pipeline import BatchPrep, default_workers
from runner.train.recipe import init_head_bias, learned_verdict, make_loss, prior_loss

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_ROOT = ".specsweep/checkpoints"
DEFAULT_MODEL_ROOT = logged_models.DEFAULT_MODEL_ROOT
PREVIEW_CLIPS = 4  # clips of the first evaluation set shown in preview.png
# What the learnable compressions learned (log_frontend_params); runner.tracking.runs reads it by this name.
FRONTEND_PARAMS_ARTIFACT = "frontend_params.json"

EpochCallback = Callable[[int, dict[str, float]], None]


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


# --------------------------------------------------------------------------- entry point


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
    if threads is not None:
        torch.set_num_threads(threads)
    tracker = TrialTracker.start(
        tracking_uri, experiment or spec.sweep, spec, attempt=attempt, extra_tags=extra_tags
    )
    trial = _Trial(spec, tracker, dev, Path(checkpoint_root), tracking_uri)
    monitor = system_metrics.start(tracker.run_id, tracking_uri, system_metrics_s)
    try:
        tracker.log_config(spec)
        tracker.log_environment(str(dev))
        trial.setup()
        trial.resume()
        trial.train(epoch_callback)
        metrics = trial.finish()
        trial.keep_model(log_model, Path(model_root))
    except BaseException as err:
        status, reason = failure_reason(err)
        log.warning("trial %s-s%d: %s (%s)", spec.name, spec.seed, status, reason)
        system_metrics.stop(monitor)
        tracker.end(status, reason)
        if reason == "pruned":  # final: an Optuna-pruned trial is never resumed
            ckpt.remove_checkpoint(trial.checkpoint_dir)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return dataclasses.replace(
            trial.result(status, reason, {}), user_error=isinstance(err, UserError)
        )
    system_metrics.stop(monitor)
    tracker.end("FINISHED")
    ckpt.remove_checkpoint(trial.checkpoint_dir)
    return trial.result("FINISHED", None, metrics)


def resolve_device(device: str | None) -> torch.device:
    """`device` as a torch.device; None picks CUDA when available. A missing GPU is a UserError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device}: not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is visible here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device}: only cpu and cuda are supported")
    return dev


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


def derive_seed(seed: int, epoch: int, purpose: str) -> int:
    """An independent 31-bit seed for one purpose in one epoch (the training batches)."""
    words = [seed, epoch, zlib.crc32(purpose.encode())]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels when asked (slower); otherwise let cuDNN pick the fastest."""
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by cuBLAS
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic


# --------------------------------------------------------------------------- the trial


class _Trial:
    """The state of one running trial; `run_trial` calls its steps in order."""

    def __init__(
        self,
        spec: TrialSpec,
        tracker: TrialTracker,
        device: torch.device,
        checkpoint_root: Path,
        tracking_uri: str,
    ):
        self.spec = spec
        self.cfg = spec.config
        self.tracker = tracker
        self.device = device
        self.tracking_uri = tracking_uri
        self.checkpoint_dir = ckpt.checkpoint_dir(
            checkpoint_root, spec.sweep, spec.cfg_key, spec.seed
        )
        self.precision = Precision.for_device(self.cfg.train, device)
        self.epochs_done = 0
        self.resumed_from = 0
        self.history: list[dict[str, Any]] = []
        self.run_ids: list[str] = []
        self.train_time_s = 0.0
        self.eval_time_s = 0.0
        self.samples = 0
        self.last_eval: tuple[int, dict[str, SetMetrics]] | None = None
        self.verdict = None

    # ---- set-up

    def setup(self) -> None:
        start = time.perf_counter()
        cfg, spec = self.cfg, self.spec
        seed_everything(spec.seed)
        configure_determinism(cfg.train.deterministic, self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        from runner.data import eval_loader, load_dataset, train_loader

        self.data = load_dataset(
            cfg.data, cfg.frontend.sample_rate, tuple(cfg.eval.sets), seed=spec.seed
        )
        self.model = create_classifier(cfg.frontend, cfg.model, len(self.data.classes))
        train_targets = self.data.train.targets
        init_head_bias(self.model.backbone, train_targets, cfg.train.head_bias_init)
        self.loss_fn = make_loss(cfg.train, train_targets)
        self.prior_train_loss = prior_loss(self.loss_fn, train_targets)
        self.model.to(self.device)
        if self.precision.channels_last:
            self.model.backbone.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, cfg.train)
        # Compile the backbone only: state_dict and checkpoints keep the plain module's keys.
        self.backbone = (
            torch.compile(self.model.backbone) if cfg.train.compile else self.model.backbone
        )
        eval_batch = cfg.eval.batch_size or 2 * cfg.train.batch_size
        self.num_workers = cfg.train.num_workers
        if self.num_workers is None:
            self.num_workers = default_workers(self.device, torch.get_num_threads())
        self.eval_loaders = {
            name: eval_loader(dataset, eval_batch, num_workers=self.num_workers)
            for name, dataset in self.data.eval.items()
        }
        # One training loader for the whole trial: its workers persist from epoch to epoch.
        prep = BatchPrep.for_training(
            cfg.train.augment, self.model.frontend, self.device, self.data.train.clip_len,
            self.precision.amp_dtype,
        )  # fmt: skip
        self.train_loader = train_loader(
            self.data.train, cfg.train.batch_size, seed=0, num_workers=self.num_workers,
            prepare=prep,
        )  # fmt: skip
        frontend_runs_in = (
            "loader" if prep.runs_frontend else "step"
        )  # see runner/train/pipeline.py
        self.tracker.set_tags({
            "frontend_runs_in": frontend_runs_in,
            "num_workers": self.num_workers,
            "n_classes": len(self.data.classes),
            "n_train": len(self.data.train),
            **{f"n_{name}": len(d) for name, d in self.data.eval.items()},
        })  # fmt: skip
        self.setup_time_s = time.perf_counter() - start
        log.info(
            "%s: set up in %.1f s (%s); the frontend runs in the %s, %d loader workers",
            self.spec.name, self.setup_time_s, self.data.summary(), frontend_runs_in,
            self.num_workers,
        )  # fmt: skip

    def epoch_batches(self, epoch: int):
        """This epoch's batches: an iterator over the training loader, started now, so its workers
        begin making them at once. Order, crops and augmentations are seeded by (seed, epoch,
        batch), so an epoch draws the same batches whether or not the trial was resumed before
        it, with any number of workers."""
        self.train_loader.sampler.seed = derive_seed(self.spec.seed, epoch, "batches")
        return iter(self.train_loader)

    # ---- checkpoints

    def _identity(self) -> str:
        return json.dumps({**self.cfg.to_dict(), "seed": self.spec.seed}, sort_keys=True)

    def resume(self) -> None:
        state = ckpt.load_checkpoint(self.checkpoint_dir)
        if state is None:
            return
        if state["identity"] != self._identity():
            raise RuntimeError(
                f"{self.checkpoint_dir}: the checkpoint belongs to a different configuration; "
                "delete the folder to start this trial from scratch"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        ckpt.set_rng_state(state["rng"])
        self.epochs_done = self.resumed_from = int(state["epoch"])
        self.history = list(state["history"])
        self.run_ids = list(state["run_ids"])
        self.train_time_s = float(state["train_time_s"])
        self.eval_time_s = float(state["eval_time_s"])
        self.samples = int(state["samples"])
        for entry in self.history:  # the new run gets the earlier attempt's curves too
            self.tracker.log_epoch(entry["epoch"], entry["metrics"])
        for run_id in self.run_ids:
            mark_interrupted(self.tracking_uri, run_id, resumed_by=self.tracker.run_id)
        self.tracker.set_tags(
            {"resumed_from_epoch": self.resumed_from, "resumed_runs": json.dumps(self.run_ids)}
        )
        log.info("%s: resumed after epoch %d", self.spec.name, self.resumed_from)

    def save(self) -> None:
        ckpt.save_checkpoint(
            self.checkpoint_dir,
            {
                "identity": self._identity(),
                "epoch": self.epochs_done,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": ckpt.rng_state(),
                "history": self.history,
                "run_ids": [*self.run_ids, self.tracker.run_id],
                "train_time_s": self.train_time_s,
                "eval_time_s": self.eval_time_s,
                "samples": self.samples,
            },
        )

    # ---- training

    def train(self, epoch_callback: EpochCallback | None) -> None:
        cfg = self.cfg
        batches = None
        for epoch in range(self.epochs_done, cfg.train.epochs):  # 0-based
            if batches is None:
                batches = self.epoch_batches(epoch)
            stats = train_one_epoch(
                self.model, batches, self.optimizer, cfg.train, self.device, epoch,
                self.precision, self.backbone, loss_fn=self.loss_fn,
            )  # fmt: skip
            # The workers start on the next epoch's first batches while this one is evaluated
            # and saved, instead of after (no wait for the first batch at the epoch boundary).
            batches = self.epoch_batches(epoch + 1) if epoch + 1 < cfg.train.epochs else None
            self.train_time_s += stats.time_s
            self.samples += stats.samples
            number = epoch + 1
            metrics = {"train_loss": stats.loss, "epoch_time_s": stats.time_s, "lr": stats.lr}
            if number % cfg.eval.every_n_epochs == 0 or number == cfg.train.epochs:
                results = self.evaluate(number)
                metrics.update({f"val_map_{name}": r.map for name, r in results.items()})
            self.history.append({"epoch": number, "metrics": metrics})
            self.tracker.log_epoch(number, metrics)
            self.epochs_done = number
            self.save()
            if epoch_callback is not None:
                epoch_callback(number, dict(metrics))

    def evaluate(self, epoch: int) -> dict[str, SetMetrics]:
        start = time.perf_counter()
        results = {}
        for name, loader in self.eval_loaders.items():
            scores, targets = predict(self.model, loader, self.device, self.precision)
            results[name] = evaluate_scores(scores, targets, self.data.eval[name].file_ids)
        self.eval_time_s += time.perf_counter() - start
        self.last_eval = (epoch, results)
        return results

    # ---- the end

    def finish(self) -> dict[str, float]:
        """Final metrics from the last epoch's evaluation, per-class tables, preview."""
        epochs = self.cfg.train.epochs
        if self.last_eval is None or self.last_eval[0] != epochs:
            self.evaluate(epochs)  # resumed after the last epoch's checkpoint: same weights
        assert self.last_eval is not None
        results = self.last_eval[1]
        metrics: dict[str, float] = {}
        for name, r in results.items():
            metrics.update(r.as_dict(name))
            prior = label_prior_map(self.data.train.targets, self.data.eval[name].targets)
            metrics[f"prior_map_{name}"] = prior
            metrics[f"map_over_prior_{name}"] = r.map / prior if prior > 0 else float("nan")
            metrics[f"chance_map_{name}"] = chance_map(self.data.eval[name].targets)
        metrics["prior_train_loss"] = self.prior_train_loss
        metrics["train_loss_over_prior"] = (
            self.history[-1]["metrics"]["train_loss"] / self.prior_train_loss
            if self.history and self.prior_train_loss > 0
            else float("nan")
        )
        self.verdict = learned_verdict(
            metrics, self.history, self.prior_train_loss, self.cfg.eval.sets[0]
        )
        metrics["learned"] = float(self.verdict.learned)
        metrics.update(
            train_time_s=self.train_time_s,
            eval_time_s=self.eval_time_s,
            setup_time_s=self.setup_time_s,
            samples_per_s=self.samples / self.train_time_s if self.train_time_s > 0 else 0.0,
            peak_mem_mb=peak_memory_mb(self.device),
            epochs=float(self.epochs_done),
            **{f"skipped_{reason}": float(n) for reason, n in self.data.skipped.items()},
        )
        self.tracker.log_final(metrics)
        self.tracker.set_tags({"learned": self.verdict.tag, "learned_reason": self.verdict.reason})
        if not self.verdict.learned:
            log.warning(
                "%s-s%d: learned=no: %s", self.spec.name, self.spec.seed, self.verdict.reason
            )
        from runner.tracking.trial_runs import per_class_csv

        for name, r in results.items():
            self.tracker.log_text(
                f"per_class_ap_{name}.csv",
                per_class_csv(self.data.classes, r.per_class_ap, r.n_positive),
            )
        self.log_preview()
        self.log_frontend_params()
        return metrics

    def log_frontend_params(self) -> None:
        """`frontend_params.json`: what the exp / PCEN compressions hold after training, per band
        where per band, beside their initial values and the bands' centre frequencies (nothing
        for a frontend without parameters, such as dB)."""
        from frontends.parameters import initial_parameter_summary, parameter_summary

        summary = parameter_summary(self.model.frontend)
        if not summary["compressions"]:
            return
        initial = initial_parameter_summary(self.model.frontend.cfg)
        for name, entry in summary["compressions"].items():
            entry["initial"] = initial.get(name, {})
        self.tracker.log_text(FRONTEND_PARAMS_ARTIFACT, json.dumps(summary, indent=1) + "\n")

    def keep_model(self, mode: str, model_root: Path) -> None:
        """`all`: log the trained network as this run's MLflow model; `best`: save it for
        `log_best_models` (runner/tracking/logged_models.py); `none`: nothing."""
        if mode == "none":
            return
        if mode not in logged_models.LOG_MODEL_MODES:
            raise ValueError(f"log_model: {mode!r} is not one of best, all, none")
        spec = self.spec
        scorer = logged_models.make_scorer(self.model, self.data.classes, self.cfg)
        if mode == "all":
            first = self.cfg.eval.sets[0]
            metadata = logged_models.model_metadata(
                scorer, sweep=spec.sweep, config=spec.name, cfg_key=spec.cfg_key, seed=spec.seed,
                run_id=self.tracker.run_id,
                **{f"map_{first}": self.last_eval[1][first].map if self.last_eval else None},
            )  # fmt: skip
            logged_models.log_trial_model(self.tracking_uri, self.tracker.run_id, scorer, metadata)
            return
        logged_models.save_weights(
            model_root, spec.sweep, spec.cfg_key, spec.seed, scorer, self.tracker.run_id
        )
        self.tracker.set_tags({logged_models.TAG_WEIGHTS_HOST: platform.node()})

    @torch.inference_mode()
    def log_preview(self) -> None:
        """The trained frontend's images of the first clips of the first evaluation set."""
        name = self.cfg.eval.sets[0]
        dataset = self.data.eval[name]
        n = min(PREVIEW_CLIPS, len(dataset))
        items = [dataset[i] for i in range(n)]
        waveform = torch.stack([w for w, _ in items]).to(self.device)  # (n, samples)
        self.model.eval()
        images = self.model.frontend(waveform).float().cpu().numpy()  # (n, C, H, W)
        titles = []
        for i, (_, target) in enumerate(items):
            labels = [c for c, t in zip(self.data.classes, target.tolist()) if t > 0.5]
            titles.append(f"{name} clip {i}: {', '.join(labels) or 'no label'}")
        self.tracker.log_preview(
            images, titles, f"{self.spec.name}-s{self.spec.seed}: frontend output"
        )

    def result(self, status: str, reason: str | None, metrics: dict[str, float]) -> TrialResult:
        return TrialResult(
            status=status,
            reason=reason,
            metrics=metrics,
            run_id=self.tracker.run_id,
            epochs_done=self.epochs_done,
            resumed_from_epoch=self.resumed_from,
            history=list(self.history),
            learned_reason=self.verdict.reason if self.verdict and status == "FINISHED" else None,
        )
