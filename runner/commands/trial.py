"""`specsweep trial SWEEP.yaml --name NAME | --index I`: run one trial in the foreground.

specsweep trial sweeps/demo.yaml --index 0
specsweep trial sweeps/demo.yaml --name w512-h128-mel-64x256 --seed 1 --device cpu --threads 1

Prints one line per epoch and the final metrics, and leaves the run in MLflow (the sweep's
`tracking.uri`, default sqlite:///mlflow.db). Exit codes (`runner.queue.job.ExitCode`, the table
a sweep's child processes exit with too): 0 when the trial finished, 1 when it failed (the
reason is printed and tagged on the run), 2 for a mistake in the input, found before the trial
(a bad option, an unknown name) or inside it (bad data: the run is FAILED with that reason),
3 when it was pruned; Ctrl-C or SIGTERM mark the run KILLED `interrupted` and exit 130 / 143.
The trial resumes from its checkpoint when started again after an interruption.

A sweep does not run its trials through this command: its supervisor hands each one to a child
process (`runner.queue.worker`) that calls the same `runner.train.trial.run_trial`. `--attempt`
and `--tag` set the tags such a child would (`attempt`, `optuna_trial`), to rerun an attempt by
hand; `--result-json` writes `TrialResult` as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.errors import UserError
from runner.queue.job import ExitCode


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "trial",
        help="run one trial of a sweep in the foreground",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep", metavar=SWEEP_METAVAR, help="the sweep file, e.g. sweeps/demo.yaml"
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--name", help="the trial's name as `specsweep plan` lists it")
    which.add_argument("--index", type=int, help="the trial's 0-based index in `specsweep plan`")
    parser.add_argument(
        "--seed", type=int, help="the seed (default: the sweep's first seed for --name)"
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the sweep's)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the sweep's)")
    parser.add_argument(
        "--device", help="cpu, cuda or cuda:N (default: cuda when available, else cpu)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    parser.add_argument("--attempt", type=int, default=1, help="1-based attempt number (a tag)")
    parser.add_argument(
        "--tag", action="append", default=[], metavar="KEY=VALUE", help="extra run tag (repeatable)"
    )
    parser.add_argument("--result-json", metavar="PATH", help="write the result as JSON here")
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="accept a grid of more than 100,000 trials (refused by default as a likely typo)",
    )
    return parser


def command(args: argparse.Namespace) -> int:
    from runner.sweep.grid import expand, find
    from runner.sweep.load import load_sweep
    from runner.train.trial import run_trial

    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be at least 1")
    if args.attempt < 1:
        raise UserError(f"--attempt {args.attempt}: must be at least 1")
    tags = dict(_parse_tag(t) for t in args.tag)
    sweep = load_sweep(args.sweep, allow_large=args.allow_large)
    spec = find(expand(sweep), name=args.name, index=args.index, seed=args.seed)
    if args.seed is not None and spec.seed != args.seed:  # a seed outside the sweep's list
        spec = dataclasses.replace(spec, seed=args.seed)
    uri = args.tracking_uri or sweep.tracking.uri
    experiment = args.experiment or sweep.tracking.experiment or sweep.name

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, _terminate)  # `kill`, a batch system: end the run as KILLED too
    epochs = spec.config.train.epochs
    print(
        f"trial {spec.index} {spec.run_name} (cfg_key {spec.cfg_key}) -> {uri}, "
        f"experiment {experiment}",
        flush=True,
    )

    def progress(epoch: int, metrics: dict[str, float]) -> None:
        print(format_epoch(epoch, epochs, metrics), flush=True)

    result = run_trial(
        spec,
        tracking_uri=uri,
        experiment=experiment,
        attempt=args.attempt,
        extra_tags=tags,
        epoch_callback=progress,
        device=args.device,
        threads=args.threads,
        log_model=sweep.tracking.log_model,
        system_metrics_s=sweep.tracking.system_metrics_s,
    )
    if result.finished and sweep.tracking.log_model == "best":
        from mlflow import MlflowClient

        from runner.tracking.logged_models import log_best_models

        done = log_best_models(MlflowClient(uri), uri, experiment)
        print("\n".join(done.lines()))
    if result.resumed_from_epoch:
        print(f"(resumed after epoch {result.resumed_from_epoch})")
    if args.result_json:
        with open(args.result_json, "w") as f:
            json.dump(dataclasses.asdict(result), f, indent=2)
    if result.finished:
        m = result.metrics
        sets = [k.removeprefix("prior_map_") for k in m if k.startswith("prior_map_")]
        maps = "  ".join(
            f"{k}{s} {m[k + s]:.4f}" for s in sets for k in ("map_", "file_map_") if k + s in m
        )
        print(
            f"FINISHED  {maps}  train_time_s {m['train_time_s']:.1f}  "
            f"samples_per_s {m['samples_per_s']:.1f}  run {result.run_id}"
        )
        print(f"learned={'yes' if m.get('learned') else 'no'}: {result.learned_reason}")
    else:
        print(f"{result.status}: {result.reason} (run {result.run_id})", file=sys.stderr)
    return ExitCode.of(result.status, result.reason, result.user_error)


def format_epoch(epoch: int, epochs: int, metrics: dict[str, float]) -> str:
    """`epoch 3/8  loss 0.2859  val_map test 0.4362 field 0.2290  7.5 s  lr 0.1`"""
    val = " ".join(
        f"{k.removeprefix('val_map_')} {v:.4f}"
        for k, v in metrics.items()
        if k.startswith("val_map_")
    )
    return (
        f"epoch {epoch}/{epochs}  loss {metrics['train_loss']:.4f}"
        + (f"  val_map {val}" if val else "")
        + f"  {metrics['epoch_time_s']:.1f} s  lr {metrics['lr']:g}"
    )


def _parse_tag(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UserError(f"--tag {text}: expected KEY=VALUE, e.g. --tag optuna_trial=3")
    return key, value


def _terminate(signum, frame) -> None:
    raise SystemExit(ExitCode.TERMINATED)  # run_trial marks the run KILLED before re-raising
