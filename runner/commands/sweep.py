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
import math
import shlex
import sys
from typing import TYPE_CHECKING

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.servers.remote import (
    check_tracking,
    check_tracking_scheme,
    resolve_sweep_urls,
    tracking_credentials_to_env,
)
from runner.servers.secrets import mask_url
from runner.sweep.config import SweepConfig
from runner.sweep.limits import check_parallelism
from runner.sweep.load import load_sweep

if TYPE_CHECKING:
    from rich.console import Console

    from runner.queue.study import SweepQueue
    from runner.queue.supervisor import Outcome

# The queue, the supervisor and rich are imported when a sweep runs, not when the CLI starts
# (`specsweep plan` builds the same parser and should answer at once).

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep: every trial once, in parallel, resumable",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep", metavar=SWEEP_METAVAR, help="the sweep file, e.g. sweeps/demo.yaml"
    )
    parser.add_argument("--slots", type=_positive, help="trials at once (default: resources.slots)")
    parser.add_argument(
        "--jobs-per-gpu", type=_positive, help="trials per GPU (default: resources.jobs_per_gpu)"
    )
    parser.add_argument(
        "--gpus",
        type=_gpu_list,
        help="GPUs to use, counted from 0 among the visible ones, e.g. 0,1; none = CPU only "
        "(default: all visible)",
    )
    parser.add_argument(
        "--threads", type=_positive, help="CPU threads per slot (default: cores // slots)"
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
        type=_non_negative,
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 or more")
    return value


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


def run_sweep(
    sweep: SweepConfig,
    sweep_path: str,
    *,
    live: bool | None = None,
    worker_command: list[str] | None = None,
    check_data: bool = True,
    retry_failed: bool = False,
    retry_command: str | None = None,
    strict: bool = False,
) -> int:
    """Supervise the sweep on this machine until it is done or stopped; the exit code.

    check_data: load every dataset the grid needs before enqueueing anything (runner.sweep.datacheck);
    a mistake in the data is then a UserError (exit 2) and no trial starts. retry_failed: queue
    the points that failed for good once more first. retry_command: the command line that does
    that, printed when the sweep ends with failures. strict: warnings are errors (exit 2).
    """
    from runner.queue.gpus import check_gpus_usable
    from runner.queue.progress import Progress
    from runner.queue.slots import gpu_envs, plan_slots
    from runner.queue.spares import WORKER_COMMAND
    from runner.queue.store import open_store
    from runner.queue.study import SweepQueue
    from runner.queue.supervisor import Supervisor
    from runner.sweep.datacheck import WARNING
    from runner.sweep.datacheck import strict as strict_check
    from runner.sweep.grid import expand, grid_warnings

    specs = expand(sweep)
    lines = [f"{WARNING}{sweep_path}: {w}" for w in grid_warnings(sweep)]
    strict_check(lines, strict)
    # An unreachable MLflow server or a wrong password: exit 2 now, not HTTP retries later.
    check_tracking(sweep.tracking.uri)
    slots = plan_slots(sweep.resources, source=f"{sweep_path}: resources.gpus / --gpus")
    progress = Progress.create(sweep.name, live=live)
    console = progress.console
    # Torch can use the slots' GPUs (driver, device files), checked once before any trial starts.
    for line in check_gpus_usable(worker_command or WORKER_COMMAND, gpu_envs(slots)):
        console.print(f"  {line}", highlight=False)
    if check_data:  # before anything is enqueued: bad data stops here, with no trial started
        from runner.sweep.datacheck import check_data as load_every_dataset

        data_lines = load_every_dataset(specs)
        strict_check(data_lines, strict)
        lines += data_lines
    for line in lines:
        console.print(line, highlight=False, markup=False)
    experiment_id = prepare_experiment(sweep, specs)
    store = open_store(sweep.storage.url, sweep.name)
    if store.notice:
        console.print(f"warning: {store.notice}", highlight=False)
    queue = SweepQueue.open(sweep, specs, store)
    if retry_failed:
        requeue_failed(queue, console)
    print_banner(console, sweep, len(specs), queue, slots, store.url)
    supervisor = Supervisor(
        sweep,
        queue,
        slots,
        tracking_uri=sweep.tracking.uri,
        experiment=sweep.experiment,
        progress=progress,
        worker_command=worker_command,
    )
    outcome = supervisor.run()
    retry_command = retry_command or f"specsweep sweep {shlex.quote(sweep_path)} --retry-failed"
    code = print_results(sweep, queue, outcome, console, sweep_path, retry_command)
    if sweep.tracking.log_model == "best" and not outcome.interrupted:
        log_models(sweep, console)
    console.print(f"The runs, best first: {ui_link(sweep.tracking.uri, experiment_id)}")
    return code


def print_banner(console: Console, sweep: SweepConfig, n_trials: int, queue, slots, store_url):
    """The sweep's first lines: its trials, what is already done, the slots and the stores."""
    counts = queue.counts()
    console.print(
        f"sweep {sweep.name}: {n_trials} trials ({sweep.search.sampler}"
        f"{f', {sweep.search.n_trials} sampled' if sweep.search.sampler != 'grid' else ''}), "
        f"{counts.complete + counts.pruned} already done; {len(slots)} slot(s): "
        + ", ".join(s.describe() for s in slots)
    )
    console.print(
        f"  Optuna: {mask_url(store_url)}   MLflow: {mask_url(sweep.tracking.uri)}"
        f" (experiment {sweep.experiment})"
    )


def requeue_failed(queue: SweepQueue, console: Console) -> None:
    """`--retry-failed`: queue the points that failed for good once more, and say which."""
    again = [p.spec.run_name for p in queue.retry_failed()]
    names = f" ({', '.join(again[:5])}{', ...' if len(again) > 5 else ''})" if again else ""
    console.print(f"--retry-failed: {len(again)} trial(s) that failed for good queued again{names}")


def prepare_experiment(sweep: SweepConfig, specs) -> str:
    """Create the sweep's experiment and tag it for the UI (runner/tracking/experiment.py)."""
    from mlflow import MlflowClient

    from runner.tracking import experiment as experiment_page

    if sweep.tracking.onnx:  # before any trial: a missing extra is a user error, not a warning
        from runner.tracking.onnx_export import require_onnx

        require_onnx()
    experiment_id = experiment_page.ensure_experiment(sweep.tracking.uri, sweep.experiment)
    experiment_page.prepare(
        MlflowClient(sweep.tracking.uri),
        experiment_id,
        sweep.eval.sets,
        list(specs[0].swept) if specs else [],
        log_model=sweep.tracking.log_model,
        register_as=sweep.tracking.register_as,
        onnx=sweep.tracking.onnx,
    )
    return experiment_id


def log_models(sweep: SweepConfig, console: Console) -> None:
    """`log_model: best`: log each configuration's best trial (runner/tracking/logged_models.py)."""
    from mlflow import MlflowClient

    from runner.tracking.logged_models import log_best_models

    try:
        done = log_best_models(
            MlflowClient(sweep.tracking.uri), sweep.tracking.uri, sweep.experiment,
            register_as=sweep.tracking.register_as,
        )  # fmt: skip
    except Exception as err:  # the trials are safe in MLflow; the report retries this
        console.print(
            f"models: not logged ({type(err).__name__}: {err}); `specsweep report` tries again"
        )
        return
    for line in done.lines():
        console.print(line)


def ui_link(tracking_uri: str, experiment_id: str) -> str:
    """Where the UI shows the runs: the server's own URL, or `make ui`'s for a local store."""
    from runner.commands.ui import DEFAULT_URL
    from runner.tracking.experiment import runs_url

    base = tracking_uri if tracking_uri.startswith(("http://", "https://")) else DEFAULT_URL
    hint = "" if base == tracking_uri else " (after `make ui`)"
    return runs_url(mask_url(base), experiment_id) + hint


def result_rows(queue: SweepQueue) -> list[dict]:
    """One row per point: its state, MAP, training time, attempts; best MAP first."""
    from runner.queue.study import ATTR_NOT_LEARNED, ATTR_REASON, ATTR_TRAIN_TIME

    rows = []
    for point in queue.points():
        state = queue._state(point)
        final = point.final
        value = (
            final.values[0] if final is not None and final.values and state == "complete" else None
        )
        rows.append(
            {
                "trial": point.spec.run_name,
                "state": state,
                "map": value,
                "train_time_s": final.user_attrs.get(ATTR_TRAIN_TIME)
                if state == "complete"
                else None,
                "attempts": len(point.attempts),
                "reason": final.user_attrs.get(ATTR_REASON)
                if final is not None and state != "complete"
                else None,
                "not_learned": final.user_attrs.get(ATTR_NOT_LEARNED)
                if final is not None and state == "complete"
                else None,
            }
        )
    rows.sort(key=lambda r: (r["map"] is None, -(r["map"] or 0.0), r["trial"]))
    return rows


def print_results(
    sweep: SweepConfig,
    queue: SweepQueue,
    outcome: Outcome,
    console: Console,
    sweep_path: str,
    retry_command: str,
) -> int:
    """Print the end-of-sweep results table (`result_rows`), the trials that learned nothing, the
    counts and what to do next; the sweep's exit code."""
    from rich.table import Table

    from reports.durations import format_duration

    rows = result_rows(queue)
    table = Table(
        title=f"{sweep.name}: trials by MAP on '{sweep.eval.sets[0]}'", title_justify="left"
    )
    for name, justify in (
        ("trial", "left"),
        ("MAP", "right"),
        ("train time", "right"),
        ("state", "left"),
        ("attempts", "right"),
        ("reason", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        train = r["train_time_s"]
        table.add_row(
            r["trial"],
            f"{r['map']:.4f}" if r["map"] is not None else "-",
            f"{train:.1f} s" if train is not None and not math.isnan(train) else "-",
            r["state"],
            str(r["attempts"]),
            r["reason"] or "",
        )
    console.print(table)
    not_learned = [r for r in rows if r["not_learned"]]
    for r in not_learned:
        console.print(f"learned=no  {r['trial']}: {r['not_learned']}")
    if not_learned:
        console.print(
            f"{len(not_learned)} of {sum(r['state'] == 'complete' for r in rows)} complete "
            "trial(s) learned little or nothing; try more epochs, `train.optimizer: adamw` or "
            "pretrained weights (`specsweep report` says whether the comparison means anything)"
        )
    counts = queue.counts()
    console.print(
        f"{counts.complete} complete, {counts.pruned} pruned, {counts.failed} failed, "
        f"{counts.queued + counts.running} not finished; {outcome.ran} attempt(s) run here"
        + (
            f", median trial {format_duration(sorted(outcome.durations_s)[len(outcome.durations_s) // 2])}"
            if outcome.durations_s
            else ""
        )
    )
    console.print(
        f"MLflow experiment '{sweep.experiment}' at {mask_url(sweep.tracking.uri)}: `make ui` to browse it; "
        f"`make report SWEEP={sweep_path}` (or `specsweep report {sweep_path}`) for the figures."
    )
    if outcome.disk_full:
        print(f"specsweep: {outcome.disk_full}", file=sys.stderr)
        return EXIT_FAILED
    if outcome.interrupted:
        console.print(
            f"Stopped. Run the same command again to resume: specsweep sweep {sweep_path}"
        )
        return EXIT_INTERRUPTED
    if counts.failed:
        print(
            f"specsweep: {counts.failed} trial(s) failed for good (a crash is retried up to "
            f"{sweep.search.max_retries} times, a mistake in the input not at all); "
            f"see the reason column and the logs under .specsweep/runs/{sweep.name}/logs/; once "
            f"the cause is fixed, run them again: {retry_command}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
