"""Running a sweep on this machine: the driver behind `specsweep sweep`.

    code = run_sweep(sweep, "sweeps/demo.yaml")   # supervise every trial; the exit code

`run_sweep` takes a loaded sweep (its trials expanded once, `sweep.specs`), checks what it needs
before any trial starts (the grid's warnings, the MLflow server, the GPUs, the data), prepares
the MLflow experiment, opens the queue, supervises the trials (`runner.queue.supervisor`), prints
the results table (`runner.queue.results`) and, with `log_model: best`, logs the best models.
The command (`runner.commands.sweep`) only parses the options and calls it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from runner.servers.remote import check_tracking
from runner.servers.secrets import mask_url
from runner.sweep.config import SweepConfig

if TYPE_CHECKING:
    from rich.console import Console

    from runner.queue.study import SweepQueue

# The queue, the supervisor, MLflow and rich are imported when a sweep runs, not when the CLI
# starts (`specsweep plan` builds the same parser and should answer at once).


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
    from runner.queue.results import print_results
    from runner.queue.slots import gpu_envs, plan_slots
    from runner.queue.spares import WORKER_COMMAND
    from runner.queue.store import open_store
    from runner.queue.study import SweepQueue
    from runner.queue.supervisor import Supervisor
    from runner.sweep.datacheck import WARNING
    from runner.sweep.datacheck import strict as strict_check
    from runner.sweep.grid import grid_warnings
    from runner.tracking.experiment import runs_link

    specs = list(sweep.specs)  # expanded once, when the file was loaded
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
    console.print(f"The runs, best first: {runs_link(sweep.tracking.uri, experiment_id)}")
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
