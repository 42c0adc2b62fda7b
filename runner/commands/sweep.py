"""`specsweep sweep SWEEP.yaml`: run every trial of a sweep on this machine's slots, resumably.

specsweep sweep sweeps/demo.yaml
specsweep sweep sweeps/merlin_part1.yaml --gpus 0,1 --jobs-per-gpu 2
specsweep sweep sweeps/demo.yaml --slots 2 --max-retries 1 --storage postgresql://u:p@db/optuna

Started again, the same command resumes: finished trials are never run twice. Several machines
(or several supervisors) share one sweep through `--storage` (a PostgreSQL URL) and a shared
`--tracking-uri`. Exit code 0 when every trial completed (or was pruned), 1 when any failed for
good, 130 when stopped with Ctrl-C, 2 for a mistake in the sweep file or the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex

from runner.commands import SWEEP_METAVAR, help_from_doc, non_negative_int, positive_int
from runner.queue.run import run_sweep
from runner.servers.remote import (
    check_tracking_scheme,
    resolve_sweep_urls,
    tracking_credentials_to_env,
)
from runner.sweep.config import SweepConfig
from runner.sweep.limits import check_parallelism
from runner.sweep.load import load_sweep


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep: every trial once, in parallel, resumable",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep", metavar=SWEEP_METAVAR, help="the sweep file, e.g. sweeps/demo.yaml"
    )
    parser.add_argument(
        "--slots", type=positive_int, help="trials at once (default: resources.slots)"
    )
    parser.add_argument(
        "--jobs-per-gpu", type=positive_int, help="trials per GPU (default: resources.jobs_per_gpu)"
    )
    parser.add_argument(
        "--gpus",
        type=_gpu_list,
        help="GPUs to use, counted from 0 among the visible ones, e.g. 0,1; none = CPU only "
        "(default: all visible)",
    )
    parser.add_argument(
        "--threads", type=positive_int, help="CPU threads per slot (default: cores // slots)"
    )
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage (default: journal file .specsweep/studies/<sweep>.journal)",
    )
    parser.add_argument(
        "--tracking-uri", metavar="URI", help="MLflow tracking URI (default: tracking.uri)"
    )
    parser.add_argument(
        "--max-retries",
        type=non_negative_int,
        help="retries of a failing trial (default: search.max_retries)",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="run again the trials that failed for good (their retries start over; earlier "
        "attempts stay in MLflow)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings (exclude rules that match nothing, labels spelled two ways) as errors",
    )
    parser.add_argument(
        "--no-live", action="store_true", help="plain line-per-event output even on a terminal"
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="accept a grid of more than 100,000 trials, or more than 256 slots or 16 jobs per "
        "GPU (refused by default as a likely typo)",
    )
    return parser


def _gpu_list(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(int(g) for g in text.split(",") if g.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text}: give GPU indices separated by commas, e.g. 0,1 (or none for the CPU)"
        ) from None


def apply_overrides(sweep: SweepConfig, args: argparse.Namespace) -> SweepConfig:
    """The sweep with the command line's options written over its file's values."""
    resources = sweep.resources
    for option, key in (
        ("slots", "slots"),
        ("jobs_per_gpu", "jobs_per_gpu"),
        ("gpus", "gpus"),
        ("threads", "threads_per_slot"),
    ):
        if getattr(args, option, None) is not None:
            resources = dataclasses.replace(resources, **{key: getattr(args, option)})
    storage, tracking, search = sweep.storage, sweep.tracking, sweep.search
    # --storage / --tracking-uri, else SPECSWEEP_STORAGE / SPECSWEEP_TRACKING_URI, else the file.
    url, uri = resolve_sweep_urls(sweep, args.storage, args.tracking_uri)
    check_tracking_scheme(uri)  # before the config is rebuilt with it
    uri = tracking_credentials_to_env(uri)  # MLflow would print a password left in the URI
    storage = dataclasses.replace(storage, url=url)
    tracking = dataclasses.replace(tracking, uri=uri)
    if args.max_retries is not None:
        search = dataclasses.replace(search, max_retries=args.max_retries)
    return dataclasses.replace(
        sweep, resources=resources, storage=storage, tracking=tracking, search=search
    )


def command(args: argparse.Namespace) -> int:
    """Load the sweep once, write the options over it, and run it (runner.queue.run)."""
    sweep = apply_overrides(load_sweep(args.sweep, allow_large=args.allow_large), args)
    resources = sweep.resources
    check_parallelism(resources.slots, resources.jobs_per_gpu, args.allow_large)
    argv = getattr(args, "_argv", None) or ["sweep", args.sweep]
    retry = ["specsweep", *argv, *([] if "--retry-failed" in argv else ["--retry-failed"])]
    return run_sweep(
        sweep,
        args.sweep,
        live=False if args.no_live else None,
        retry_failed=args.retry_failed,
        retry_command=shlex.join(retry),
        strict=args.strict,
    )
