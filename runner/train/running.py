"""A trial while it runs: the model, data and loaders it builds, its checkpoints, its epochs
and its final metrics.

    trial = RunningTrial(spec, tracker, device, checkpoint_root, tracking_uri)
    trial.setup(); trial.resume(); trial.train(epoch_callback)
    metrics = trial.finish(); trial.keep_model("best", model_root)
    result = trial.result("FINISHED", None, metrics)

`runner.train.trial.run_trial` drives these phases and turns any failure into the run's status
and reason; this module only does the work of each phase.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from models.classifier import create_classifier
from runner.sweep.spec import TrialSpec
from runner.tracking import logged_models
from runner.tracking.trial_runs import TrialTracker, mark_interrupted
from runner.train import checkpoint as ckpt
from runner.train.artifacts import log_frontend_params, log_per_class_tables, log_preview
from runner.train.loop import (
    Precision,
    compile_warm_up,
    make_optimizer,
    peak_memory_mb,
    predict,
    train_one_epoch,
)
from runner.train.metrics import SetMetrics, chance_map, evaluate_scores, label_prior_map
from runner.train.outcome import TrialResult
from runner.train.pipeline import BatchPrep, default_workers
from runner.train.recipe import init_head_bias, learned_verdict, make_loss, prior_loss
from runner.train.runtime import configure_determinism, derive_seed, seed_everything

log = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], None]


class RunningTrial:
    """The state of one running trial; `run_trial` calls its phases in order: `setup`, `resume`,
    `train`, `finish`, `keep_model`, then `result`."""

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
        self.compile_time_s = 0.0
        self.last_eval: tuple[int, dict[str, SetMetrics]] | None = None
        self.verdict = None

    # ---- set-up

    def setup(self) -> None:
        """Seed, load the data, build the model, loss, optimiser and loaders; tag the run."""
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
        pin = self.device.type == "cuda"  # page-locked batches for the GPU; none for a CPU trial
        self.eval_loaders = {
            name: eval_loader(dataset, eval_batch, num_workers=self.num_workers, pin_memory=pin)
            for name, dataset in self.data.eval.items()
        }
        # One training loader for the whole trial: its workers persist from epoch to epoch.
        prep = BatchPrep.for_training(
            cfg.train.augment, self.model.frontend, self.device, self.data.train.clip_len,
            self.precision.amp_dtype,
        )  # fmt: skip
        self.train_loader = train_loader(
            self.data.train, cfg.train.batch_size, seed=0, num_workers=self.num_workers,
            prepare=prep, pin_memory=pin,
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
        if cfg.train.compile:  # compiled now and timed apart: not setup, not training time
            self.compile_time_s = compile_warm_up(
                self.model, self.backbone, min(cfg.train.batch_size, len(self.data.train)),
                self.data.train.clip_len,
                self.device, self.precision,
            )  # fmt: skip
            log.info("%s: compiled in %.1f s", self.spec.name, self.compile_time_s)
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
        """Continue from this trial's checkpoint, if an earlier attempt left one."""
        state, aside = ckpt.load_or_set_aside(self.checkpoint_dir)
        if aside is not None:
            log.warning(
                "%s: the checkpoint did not load (damaged); set aside as %s, starting from "
                "epoch 0", self.spec.name, aside,
            )  # fmt: skip
            self.tracker.set_tags({"damaged_checkpoint": str(aside)})
        if state is None:
            return
        if state["identity"] != self._identity():
            raise RuntimeError(
                f"{self.checkpoint_dir}: the checkpoint belongs to a different configuration; "
                "delete the folder to start this trial from scratch"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        ckpt.set_rng_state(state["rng"], self.device)
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
        """Checkpoint after an epoch: weights, optimiser, generators, the epochs so far."""
        ckpt.save_checkpoint(
            self.checkpoint_dir,
            {
                "identity": self._identity(),
                "epoch": self.epochs_done,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": ckpt.rng_state(self.device),
                "history": self.history,
                "run_ids": [*self.run_ids, self.tracker.run_id],
                "train_time_s": self.train_time_s,
                "eval_time_s": self.eval_time_s,
                "samples": self.samples,
            },
        )

    # ---- training

    def train(self, epoch_callback: EpochCallback | None) -> None:
        """The remaining epochs: train, evaluate when due, log, checkpoint, call back."""
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
            log.info(
                "%s: epoch %d/%d  %s", self.spec.run_name, number, cfg.train.epochs,
                "  ".join(f"{k} {v:.4g}" for k, v in metrics.items()),
            )  # fmt: skip
            self.epochs_done = number
            self.save()
            if epoch_callback is not None:
                epoch_callback(number, dict(metrics))

    def evaluate(self, epoch: int) -> dict[str, SetMetrics]:
        """Score every evaluation set with the current weights (kept as `last_eval`)."""
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
            compile_time_s=self.compile_time_s,
            samples_per_s=self.samples / self.train_time_s if self.train_time_s > 0 else 0.0,
            peak_mem_mb=peak_memory_mb(self.device),
            epochs=float(self.epochs_done),
            **{f"skipped_{reason}": float(n) for reason, n in self.data.skipped.items()},
        )
        self.tracker.log_final(metrics)
        self.tracker.set_tags({"learned": self.verdict.tag, "learned_reason": self.verdict.reason})
        if not self.verdict.learned:
            log.warning("%s: learned=no: %s", self.spec.run_name, self.verdict.reason)
        log_per_class_tables(self.tracker, self.data.classes, results)
        first = self.cfg.eval.sets[0]
        log_preview(
            self.tracker, self.model, self.data.eval[first], self.data.classes, first,
            self.device, self.spec.run_name,
        )  # fmt: skip
        log_frontend_params(self.tracker, self.model.frontend)
        return metrics

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

    def result(self, status: str, reason: str | None, metrics: dict[str, float]) -> TrialResult:
        """How the trial ended, with what it did so far."""
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
