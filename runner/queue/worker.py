"""The child process of one slot: run one attempt of one trial, report how it ended.

    python -m runner.queue.worker JOB.json                                  # run this job now
    python -m runner.queue.worker --wait SUPERVISOR_PID [--tracking-uri URI]  # a warm spare
    python -m runner.queue.worker --probe-gpu     # what torch sees here, one line of JSON

A *warm spare* is how the supervisor starts children: spawned for a slot while that slot's
previous trial still runs, with the slot's `CUDA_VISIBLE_DEVICES` and thread variables already
in its environment, it imports torch, timm, MLflow and the trial code (seconds of start-up a
trial would otherwise wait for), opens the MLflow store, and then blocks reading one line from
stdin: the path of its job file. It never touches CUDA before the job names the device, and it
runs exactly one job, so a crash or OOM still takes down only that trial. End of stdin without a
job means "not needed": it exits 0.

The protocol is `runner.queue.job`: the supervisor writes the job (`Job`); this process rewrites
its status file at start-up and after every epoch (`Status`, which the progress display reads),
writes its result file (`Result`) when the trial has ended, and exits with the code that result
stands for (`Result.exit_code`). A code without a result file means it died (a signal, a crash
before the result was written): the supervisor then closes its MLflow run.

With pruning on, every epoch's `Pruning.metric` (`val_map_<first eval set>`) is reported to the
Optuna trial and `TrialPruned` is raised when the study's pruner says so; run_trial ends the run
KILLED `pruned`. Torch's threads are the job's `threads` (the slot's; the native libraries' thread
variables were set from the same value before this process started). Nothing here touches CUDA
before run_trial picks the (only visible) device.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

from runner.queue.job import ExitCode, Job, Result, Status, Timing


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies (a SIGKILLed supervisor must
    not leave an orphan that finishes its trial, which its restarted self would run again)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(ExitCode.INTERRUPTED)


def make_epoch_callback(job: Job):
    """Write each epoch to the status file; with pruning, report to Optuna and maybe prune."""
    pruning = job.pruning
    trial = None
    if pruning is not None:
        import optuna

        from runner.queue.space import make_pruner
        from runner.queue.store import open_store

        store = open_store(job.storage_url, job.study)
        study = optuna.load_study(
            study_name=job.study, storage=store.storage, pruner=make_pruner(pruning)
        )
        trial = optuna.Trial(study, job.trial_id)

    def callback(epoch: int, metrics: dict[str, float]) -> None:
        Status("training", epoch, job.epochs, t=time.time(), metrics=metrics).write(job.status_path)
        if trial is None or pruning is None:
            return
        value = metrics.get(pruning.metric)
        if value is None:  # no evaluation this epoch (eval.every_n_epochs > 1)
            return
        trial.report(float(value), epoch)
        if trial.should_prune():
            from runner.train.trial import TrialPruned

            raise TrialPruned(f"epoch {epoch}: {pruning.metric} {value:.4f} below the median")

    return callback


def warm_up(tracking_uri: str | None) -> None:
    """Do now, while waiting for a job, the start-up every trial needs: the imports of the trial
    code (torch, torchvision, timm, MLflow, Optuna, the data layer, matplotlib for the preview),
    and the MLflow store for `tracking_uri` (MLflow caches stores per URI, so the trial's own
    client reuses the engine and the schema check done here). CUDA stays uninitialised."""
    import models.classifier  # noqa: F401
    import reports.preview  # noqa: F401  (matplotlib: the preview figure, drawn after the last epoch)
    import runner.data
    import runner.train.trial  # noqa: F401

    if tracking_uri:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri).search_experiments(max_results=1)


def wait_for_job(supervisor_pid: int, tracking_uri: str | None) -> int:
    """The warm spare: warm up, read one job path from stdin, run it; see the module docstring."""
    die_with_parent(supervisor_pid)
    t_spawn_process = time.time()
    try:
        warm_up(tracking_uri)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as err:  # a broken store now would break the trial too: let it say so
        print(f"worker: warm-up incomplete ({type(err).__name__}: {err})", file=sys.stderr)
    t_warm = time.time()
    try:
        line = sys.stdin.readline().strip()
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    if not line:
        return 0  # the supervisor needs no more children
    job = Job.read(Path(line))
    _redirect_output(job.log_path)  # from here on, this child's output is the attempt's log
    return run(job, t_spawn_process=t_spawn_process, t_warm=t_warm)


def log_to_stderr() -> None:
    """The trial's log records (set-up, every epoch, warnings, a failure's traceback) to stderr,
    which is the attempt's log file (`Job.log_path`). The child process's own set-up: `main`
    calls it, never `run` (which tests call in their own process)."""
    import logging

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("alembic", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _redirect_output(path: Path) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def adopt_finished_run(spec, *, tracking_uri: str, experiment: str, trial_number: int):
    """The result of this point's FINISHED MLflow run, if an earlier child already ran it to the
    end (its supervisor was killed before recording that); None otherwise. The run is re-tagged
    with this Optuna trial, so each COMPLETE trial names its one FINISHED run."""
    from mlflow import MlflowClient

    from runner.tracking.trial_runs import finished_run
    from runner.train.trial import TrialResult

    run = finished_run(tracking_uri, experiment, spec)
    if run is None:
        return None
    tags, number = run.data.tags, str(trial_number)
    client = MlflowClient(tracking_uri)
    if tags.get("optuna_trial") and tags["optuna_trial"] != number:
        client.set_tag(run.info.run_id, "first_optuna_trial", tags["optuna_trial"])
    client.set_tag(run.info.run_id, "optuna_trial", number)
    print(
        f"{spec.run_name}: already FINISHED in MLflow run {run.info.run_id} (its result was "
        "not recorded before the sweep stopped); adopting it instead of training again",
        flush=True,
    )
    metrics = dict(run.data.metrics)
    return TrialResult(
        status="FINISHED",
        reason=None,
        metrics=metrics,
        run_id=run.info.run_id,
        epochs_done=int(metrics.get("epochs", 0)),
        learned_reason=tags.get("learned_reason"),
    )


def run(job: Job, *, t_spawn_process: float | None = None, t_warm: float | None = None) -> int:
    """Run the job's trial; write the result file; return its exit code.

    t_spawn_process, t_warm: a warm spare's start and end of warm-up (for the timing record).
    """
    t_start = time.time()
    Status("starting", 0, job.epochs, t=t_start).write(job.status_path)
    from runner.train.trial import run_trial

    callback = make_epoch_callback(job)
    t_ready = time.time()
    result = None
    user_error = False
    try:
        result = adopt_finished_run(
            job.spec,
            tracking_uri=job.tracking_uri,
            experiment=job.experiment,
            trial_number=job.trial_number,
        )
        result = result or run_trial(
            job.spec,
            tracking_uri=job.tracking_uri,
            experiment=job.experiment,
            attempt=job.attempt,
            extra_tags={"optuna_trial": job.trial_number},
            epoch_callback=callback,
            device=job.device,
            threads=job.threads,
            log_model=job.log_model,
            system_metrics_s=job.system_metrics_s,
        )
        status, reason, user_error = result.status, result.reason, result.user_error
    except (KeyboardInterrupt, SystemExit):
        status, reason = "KILLED", "interrupted"  # run_trial marked the run before re-raising
    except Exception as err:  # before run_trial could open a run (e.g. no such device)
        import traceback

        from runner.errors import UserError
        from runner.train.outcome import failure_reason

        status, reason = failure_reason(err)
        user_error = isinstance(err, UserError)
        if not user_error:
            traceback.print_exc()  # into the attempt's log
    ended = Result(
        status=status,
        reason=reason,
        user_error=user_error,
        metrics=dict(result.metrics) if result else {},
        run_id=result.run_id if result else None,
        learned_reason=result.learned_reason if result else None,
        epochs_done=result.epochs_done if result else None,
        # job handed over (supervisor's clock) -> job read -> imports done -> run_trial returned
        timing=Timing(
            t_spawn=job.t_spawn,
            t_start=t_start,
            t_ready=t_ready,
            t_end=time.time(),
            t_spawn_process=t_spawn_process,
            t_warm=t_warm,
        ),
    )
    ended.write(job.result_path)
    return ended.exit_code


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


USAGE = (
    "usage: python -m runner.queue.worker JOB.json | --wait SUPERVISOR_PID [--tracking-uri URI]"
    " | --probe-gpu"
)


def main(argv: list[str]) -> int:
    # The supervisor stops a child with SIGINT (or SIGTERM): both end the run as `interrupted`.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if argv == ["--probe-gpu"]:  # the supervisor's check that torch can use this slot's GPU
        from runner.queue.gpus import PROBE

        exec(PROBE, {})
        return 0
    log_to_stderr()  # fd 2: the attempt's log (a warm spare redirects it when it takes its job)
    if argv[:1] == ["--wait"]:
        if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--tracking-uri"):
            print(USAGE, file=sys.stderr)
            return ExitCode.USER_ERROR
        return wait_for_job(int(argv[1]), argv[3] if len(argv) == 4 else None)
    if len(argv) != 1:
        print(USAGE, file=sys.stderr)
        return ExitCode.USER_ERROR
    job = Job.read(Path(argv[0]))
    die_with_parent(job.supervisor_pid)
    return run(job)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Leave at once: the result file is written and the MLflow run ended (synchronously), while
    # the interpreter's teardown with torch and MLflow loaded takes seconds the supervisor would
    # otherwise wait for before it can tell Optuna and start the next trial.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
