"""One supervisor per machine: fill every slot with a child process running one trial.

    slots = plan_slots(sweep.resources)                 # GPUs x jobs_per_gpu, or CPU slots
    outcome = Supervisor(sweep, queue, slots, progress=progress).run()

The loop, every tick (0.2 s): collect children that exited and tell Optuna how they ended
(COMPLETE with the objective, PRUNED, FAIL + retry); give each free slot the next queued attempt
(`SweepQueue.take`); renew the leases of running attempts; now and then reap attempts whose
supervisor died. The sweep ends when nothing is queued or running anywhere.

Why children and not threads: each trial gets a fresh process with `CUDA_VISIBLE_DEVICES` set
before anything could initialise CUDA (this process never does: it counts GPUs with
`nvidia-smi -L`), its own thread budget (`OMP_NUM_THREADS`, torch threads), and a crash, OOM or
SIGKILL takes one attempt down, never the sweep.

Warm spares: a fresh Python process needs seconds to import torch, timm and MLflow (11 s on this
loaded 2-core machine, benchmarks/RESULTS.md), which every trial would wait for. So each slot
keeps one *spare* child, spawned with the slot's environment, that does those imports while the
slot's current trial runs and then waits for a job path on its stdin (`runner.queue.worker --wait`).
Starting a trial hands the job to the slot's spare and spawns the next spare at once. Still one
process per attempt, so a crash, OOM or SIGKILL takes down one attempt only; spares hold no work,
are SIGKILLed when the sweep stops, and die with this process (PR_SET_PDEATHSIG) like children.

Stopping: the first Ctrl-C (or SIGTERM) stops taking work and sends SIGINT to every child; each
ends its MLflow run KILLED `interrupted` and its attempt goes back to the queue without using a
retry. A second Ctrl-C SIGKILLs the children at once and does the same bookkeeping here. Either
way `specsweep sweep` started again resumes (children resume from their checkpoints).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import UserError
from runner.queue import worker
from runner.queue.progress import Progress, SlotView
from runner.queue.study import (
    ATTR_NOT_LEARNED,
    ATTR_RUN_ID,
    ATTR_TRAIN_TIME,
    ATTR_USER_ERROR,
    Job,
    SweepQueue,
)

if TYPE_CHECKING:
    from runner.sweep.config import ResourcesConfig, SweepConfig

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


# --------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class Slot:
    """A place for one child: a GPU (id as CUDA_VISIBLE_DEVICES spells it) or CPU, and threads."""

    index: int
    gpu: str | None
    threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpu is not None else "cpu"

    def describe(self) -> str:
        where = f"gpu {self.gpu}" if self.gpu is not None else "cpu"
        return f"{where} ({self.threads} thread{'s' if self.threads > 1 else ''})"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The child's environment: only its GPU visible (none for a CPU slot), its threads."""
        env = dict(base)
        env["CUDA_VISIBLE_DEVICES"] = self.gpu if self.gpu is not None else ""
        for var in THREAD_VARS:
            env[var] = str(self.threads)
        env["PYTHONUNBUFFERED"] = "1"
        return env


def detect_gpus(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """GPU ids without initialising CUDA: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1")
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return ()
    return tuple(
        str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))
    )


def plan_slots(
    resources: ResourcesConfig, *, gpus: tuple[str, ...] | None = None, cores: int | None = None
) -> list[Slot]:
    """Slots for this machine. GPUs: each GPU x jobs_per_gpu (`slots` caps the total);
    CPU only: `slots` (default 1) sharing the cores, threads per slot = cores // slots."""
    cores = cores or os.cpu_count() or 1
    if resources.gpus is not None:
        gpus = tuple(str(g) for g in resources.gpus)
    elif gpus is None:
        gpus = detect_gpus()
    if gpus:
        ids = [g for g in gpus for _ in range(resources.jobs_per_gpu)]
        if resources.slots is not None:
            if resources.slots > len(ids):
                raise UserError(
                    f"resources.slots: {resources.slots} is more than GPUs x jobs_per_gpu = "
                    f"{len(gpus)} x {resources.jobs_per_gpu}; raise jobs_per_gpu or lower slots"
                )
            ids = ids[: resources.slots]
        threads = resources.threads_per_slot or max(1, cores // len(ids))
        return [Slot(i, g, threads) for i, g in enumerate(ids)]
    n = resources.slots or 1
    threads = resources.threads_per_slot or max(1, cores // n)
    return [Slot(i, None, threads) for i in range(n)]


# --------------------------------------------------------------------------- MLflow


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """Create the store and the experiment before any child starts (N children creating a SQLite
    store's tables at once is how runs get lost); returns the experiment id."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # another supervisor created it meanwhile
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def close_runs(
    tracking_uri: str,
    experiment_id: str,
    cfg_key: str,
    seed: int,
    attempt: int,
    status: str,
    reason: str,
) -> int:
    """End the RUNNING MLflow runs of one attempt (its child died without ending them)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.cfg_key = '{cfg_key}' and tags.seed = '{seed}' and tags.attempt = '{attempt}'"
            " and attributes.status = 'RUNNING'"
        ),
    )
    for run in runs:
        client.set_tag(run.info.run_id, "reason", reason)
        client.set_terminated(run.info.run_id, status=status)
    return len(runs)


# --------------------------------------------------------------------------- children


@dataclass
class Child:
    """A running child process and the attempt it runs."""

    slot: Slot
    job: Job
    proc: subprocess.Popen
    started: float
    result_path: Path
    status_path: Path
    log_path: Path
    stopping: bool = False  # we asked it to stop: whatever it ends with, the attempt is requeued
    kill_at: float | None = None

    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def result(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.result_path.read_text())
        except (OSError, ValueError):
            return None


@dataclass
class Spare:
    """A warm child of one slot: imports done (or under way), waiting for a job on its stdin."""

    slot: Slot
    proc: subprocess.Popen
    started: float
    log_path: Path  # its output until it takes a job (then the attempt's log)

    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class Outcome:
    """How this supervisor's run ended."""

    interrupted: bool = False
    ran: int = 0  # attempts started here
    durations_s: list[float] = field(default_factory=list)
    overheads: list[dict[str, float]] = field(default_factory=list)  # per finished attempt


class Supervisor:
    """Runs the sweep's queued attempts on this machine's slots until nothing is left."""

    tick_s = 0.2
    idle_poll_s = 2.0  # how often idle slots ask the queue again when it was empty
    stop_grace_s = 120.0  # after the first Ctrl-C, how long a child may take to stop

    def __init__(
        self,
        sweep: SweepConfig,
        queue: SweepQueue,
        slots: list[Slot],
        *,
        tracking_uri: str,
        experiment: str,
        progress: Progress,
        run_dir: Path | None = None,
        worker_command: list[str] | None = None,
        warm_spares: bool = True,
    ):
        self.sweep = sweep
        self.queue = queue
        self.slots = slots
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.progress = progress
        self.run_dir = run_dir or Path(".specsweep/runs") / sweep.name
        # Slot files (job, status, result) are this process's own: several supervisors may share
        # a working directory (nodes on one shared filesystem, or two on one machine).
        self.slot_dir = self.run_dir / f"{socket.gethostname()}-{os.getpid()}"
        # The child's command line: the job file appended (cold start), or `--wait PID` (a warm
        # spare, the job path sent on stdin); tests substitute a stand-in child.
        self.worker_command = worker_command or [sys.executable, "-m", "runner.queue.worker"]
        self.warm_spares = warm_spares
        self.first_set = sweep.eval.sets[0]
        self.children: dict[int, Child] = {}  # slot index -> child
        self.spares: dict[int, Spare] = {}  # slot index -> its warm spare
        self._next_spare_check = 0.0
        self.outcome = Outcome()
        self._interrupts = 0
        self._experiment_id = ""

    # ------------------------------------------------------------------ main loop

    def run(self) -> Outcome:
        self.slot_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self._experiment_id = ensure_experiment(self.tracking_uri, self.experiment)
        self.queue.sync()
        self._reap()
        # SIGUSR1: SLURM's warning before the time limit (slurm/specsweep-array.sbatch); handled
        # like SIGTERM (preemption): running attempts go back to the queue.
        stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
        previous = {s: signal.signal(s, self._on_signal) for s in stop_signals}
        try:
            with self.progress:
                self._loop()
        finally:
            self._drop_spares()
            for s, handler in previous.items():
                signal.signal(s, handler)
        shutil.rmtree(self.slot_dir, ignore_errors=True)  # every child has been collected
        return self.outcome

    def _on_signal(self, signum, frame) -> None:
        self._interrupts += 1

    def _loop(self) -> None:
        last_beat = last_reap = last_view = 0.0
        next_take = 0.0
        beat_s = self.sweep.storage.heartbeat_s
        reap_s = self.sweep.storage.lease_timeout_s / 2
        stopping = False
        while True:
            now = time.time()
            if self._interrupts and not stopping:
                stopping = True
                self.outcome.interrupted = True
                self._drop_spares()
                self._stop_children()
            if self._interrupts >= 2:
                self._kill_children()
                return
            for index, child in list(self.children.items()):
                if child.proc.poll() is not None:
                    del self.children[index]
                    self._collect(child)
                    last_view = 0.0  # redraw now: the counts changed
                elif child.kill_at is not None and now > child.kill_at:
                    self._signal(child, signal.SIGKILL)
            if not stopping:
                self._keep_spares(now)
            if not stopping and now >= next_take and not self._fill_slots():
                next_take = now + self.idle_poll_s
            if now - last_beat >= beat_s:
                last_beat = now
                self._heartbeat()
            if now - last_reap >= reap_s:
                last_reap = now
                self._reap()
            if now - last_view >= 1.0:
                last_view = now
                self.progress.update(self.queue.counts(), self._slot_views())
            if not self.children and (stopping or not self.queue.has_work()):
                self.progress.update(self.queue.counts(), self._slot_views())
                return
            time.sleep(self.tick_s)

    # ------------------------------------------------------------------ starting

    def _fill_slots(self) -> bool:
        """Start a child on every free slot; False when the queue had nothing to give."""
        for slot in self.slots:
            if slot.index in self.children:
                continue
            job = self.queue.take()
            if job is None:
                return False
            self.children[slot.index] = self._start(slot, job)
        return True

    # ------------------------------------------------------------------ warm spares

    def _spawn(self, slot: Slot, args: list[str], log_path: Path, stdin) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            # A session of its own: the terminal's Ctrl-C reaches the supervisor only, which then
            # stops the children in order (and a second Ctrl-C can still kill them).
            return subprocess.Popen(
                [*self.worker_command, *args],
                env=slot.env(dict(os.environ)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=stdin,
                start_new_session=True,
            )

    def _keep_spares(self, now: float) -> None:
        """Give a warm spare to each slot whose child is past its own start-up (or that has no
        child), while attempts are left to start. Waiting for the child's start-up keeps a
        spare's imports from competing with the imports of the trial that is starting."""
        if not self.warm_spares or now < self._next_spare_check:
            return
        needy = []
        for slot in self.slots:
            spare = self.spares.get(slot.index)
            if spare is not None and not spare.alive():
                self._spare_died(self.spares.pop(slot.index))
                return
            child = self.children.get(slot.index)
            if spare is None and (child is None or child.status_path.exists()):
                needy.append(slot)
        if not needy:
            return
        if not self._more_to_start():
            self._next_spare_check = now + self.idle_poll_s
            return
        for slot in needy:
            self.spares[slot.index] = self._spawn_spare(slot)

    def _more_to_start(self) -> bool:
        """Whether the queue may still give out an attempt nobody runs yet."""
        counts = self.queue.counts()
        if counts.queued:
            return True
        budget = min(counts.total, len(self.queue.specs))
        return self.sweep.search.sampler != "grid" and len(self.queue.points()) < budget

    def _spare_died(self, spare: Spare) -> None:
        """A spare that exits before taking a job is broken (its log says why): stop using
        spares rather than spawn one that dies after another; children start cold from now on."""
        spare.proc.wait()
        self.warm_spares = False
        self._event(
            "warning",
            f"spare child of slot {spare.slot.index} exited with code {spare.proc.returncode} "
            f"before taking a job (log: {spare.log_path}); starting children cold from now on",
        )

    def _spawn_spare(self, slot: Slot) -> Spare:
        # Named after this supervisor too: another one may share the logs folder.
        log_path = self.run_dir / "logs" / f"{self.slot_dir.name}-slot{slot.index}.spare.log"
        args = ["--wait", str(os.getpid()), "--tracking-uri", self.tracking_uri]
        proc = self._spawn(slot, args, log_path, subprocess.PIPE)
        return Spare(slot, proc, time.time(), log_path)

    def _hand_over(self, spare: Spare, job_path: Path) -> bool:
        """Send the job to the spare; False when it is no longer there to take it."""
        assert spare.proc.stdin is not None
        try:
            spare.proc.stdin.write(f"{job_path}\n".encode())
            spare.proc.stdin.close()  # one job per process
        except (BrokenPipeError, OSError):
            return False
        return True

    def _drop_spares(self) -> None:
        """Stop every spare: they hold no work, so SIGKILL (their whole group) is the clean way."""
        for spare in self.spares.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(spare.proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                if spare.proc.stdin is not None:
                    spare.proc.stdin.close()
        for spare in self.spares.values():
            spare.proc.wait()
        self.spares.clear()

    # ------------------------------------------------------------------ starting

    def _start(self, slot: Slot, job: Job) -> Child:
        stem = f"{job.spec.name}-s{job.spec.seed}-a{job.attempt}"
        job_path = self.slot_dir / f"slot{slot.index}.job.json"
        result_path = self.slot_dir / f"slot{slot.index}.result.json"
        status_path = self.slot_dir / f"slot{slot.index}.status.json"
        log_path = self.run_dir / "logs" / f"{stem}.log"
        for stale in (result_path, status_path):
            stale.unlink(missing_ok=True)
        search = self.sweep.search
        t_spawn = time.time()
        worker.write_json(
            job_path,
            {
                "spec": worker.spec_to_dict(job.spec),
                "attempt": job.attempt,
                "trial_number": job.number,
                "trial_id": job.trial_id,
                "study": self.queue.study.study_name,
                "storage_url": self.queue.store.url,
                "tracking_uri": self.tracking_uri,
                "experiment": self.experiment,
                "log_model": self.sweep.tracking.log_model,
                "system_metrics_s": self.sweep.tracking.system_metrics_s,
                "device": slot.device,
                "threads": slot.threads,
                "epochs": job.spec.config.train.epochs,
                "pruning": {
                    "pruning": True,
                    "prune_startup_trials": search.prune_startup_trials,
                    "prune_warmup_epochs": search.prune_warmup_epochs,
                }
                if search.pruning
                else None,
                "prune_metric": f"val_map_{self.first_set}",
                "status_path": str(status_path),
                "result_path": str(result_path),
                "supervisor_pid": os.getpid(),
                "log_path": str(log_path),
                "t_spawn": t_spawn,
            },
        )
        proc = self._take_spare(slot, job_path)
        if (
            proc is None
        ):  # no warm spare (off, or it died): a cold child, the job on its command line
            proc = self._spawn(slot, [str(job_path)], log_path, subprocess.DEVNULL)
        self.outcome.ran += 1
        retry = f" (attempt {job.attempt})" if job.attempt > 1 else ""
        self._event(
            "started", f"{job.spec.run_name}{retry} on slot {slot.index} [{slot.describe()}]"
        )
        return Child(slot, job, proc, t_spawn, result_path, status_path, log_path)

    def _take_spare(self, slot: Slot, job_path: Path) -> subprocess.Popen | None:
        """The slot's warm spare, now running the job; None when there is none alive."""
        spare = self.spares.pop(slot.index, None)
        if spare is None:
            return None
        if spare.alive() and self._hand_over(spare, job_path):
            return spare.proc
        self._spare_died(spare)
        return None

    # ------------------------------------------------------------------ finishing

    def _collect(self, child: Child) -> None:
        """Tell Optuna (and MLflow, when the child could not) how the child's attempt ended."""
        self._tell(child)

    def _tell(self, child: Child) -> None:
        job, code = child.job, child.proc.returncode
        name = job.spec.run_name
        duration_s = time.time() - child.started
        result = child.result() or {}
        metrics = result.get("metrics") or {}
        attrs = {ATTR_RUN_ID: result["run_id"]} if result.get("run_id") else {}
        if code == worker.EXIT_FINISHED and f"map_{self.first_set}" in metrics:
            map_value = float(metrics[f"map_{self.first_set}"])
            train_s = float(metrics.get("train_time_s", float("nan")))
            values = (
                [map_value, train_s]
                if self.sweep.search.objective == "map_and_time"
                else [map_value]
            )
            if metrics.get("learned") == 0.0:  # runner.train.recipe.learned_verdict said no
                attrs[ATTR_NOT_LEARNED] = str(result.get("learned_reason") or "learned=no")
            self.queue.complete(job, values, {**attrs, ATTR_TRAIN_TIME: train_s})
            self.outcome.durations_s.append(duration_s)
            self.outcome.overheads.append(_overhead(result, metrics))
            self.progress.trial_finished(duration_s)
            self._event(
                "done",
                f"{name}  MAP {map_value:.3f}  train {train_s:.1f} s  (trial {duration_s:.1f} s)",
            )
            return
        if code == worker.EXIT_PRUNED:
            self.queue.prune(job, attrs)
            self.progress.trial_finished(duration_s)
            self._event("pruned", f"{name} at epoch {child.status().get('epoch', '?')}")
            return
        if child.stopping or code == worker.EXIT_INTERRUPTED:
            if code not in (worker.EXIT_INTERRUPTED, worker.EXIT_FAILED):  # killed: close its run
                self._close_runs(job, "KILLED", "interrupted")
            self.queue.requeue(job)
            self._event("stopped", f"{name}: back in the queue")
            return
        if code == worker.EXIT_FAILED:
            reason = result.get("reason") or "error: unknown"
        elif code == worker.EXIT_FINISHED:
            reason = f"error: the trial logged no map_{self.first_set}"
        else:
            # Killed by a signal (negative code) or crashed before writing its result: its MLflow
            # run is still RUNNING; only this process can say it is over.
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            reason = f"killed: {how}"
            self._close_runs(job, "FAILED", "killed")
        user_error = code == worker.EXIT_FAILED and bool(result.get("user_error"))
        if user_error:
            attrs[ATTR_USER_ERROR] = True
        self.queue.fail(job, reason, attrs)
        failures = job.attempt  # upper bound; the queue knows the exact count
        key = (job.spec.cfg_key, job.spec.seed)
        point = next((p for p in self.queue.points() if (p.spec.cfg_key, p.spec.seed) == key), None)
        failures = point.failures if point is not None else failures
        left = self.sweep.search.max_retries - failures + 1
        what = (
            "failed for good (a mistake in the input: retrying cannot fix it)"
            if user_error
            else f"retry {failures}/{self.sweep.search.max_retries}"
            if left > 0
            else "failed for good"
        )
        self._event(
            "failed",
            f"{name} (attempt {job.attempt}): {reason}  -> {what}  (log: {child.log_path})",
        )

    def _event(self, kind: str, message: str) -> None:
        self.progress.counts = self.queue.counts()  # so a log line shows the counts after the event
        self.progress.event(kind, message)

    def _close_runs(self, job: Job, status: str, reason: str) -> None:
        try:
            close_runs(
                self.tracking_uri,
                self._experiment_id,
                job.spec.cfg_key,
                job.spec.seed,
                job.attempt,
                status,
                reason,
            )
        except Exception as err:  # the queue's bookkeeping must go on even if MLflow is away
            self._event("warning", f"could not close the MLflow run of {job.spec.run_name}: {err}")

    # ------------------------------------------------------------------ leases

    def _heartbeat(self) -> None:
        for child in list(self.children.values()):
            if not self.queue.heartbeat(child.job):
                # Reaped by another supervisor (we looked dead): its next attempt is queued, so
                # this one must not finish too.
                self._event("lost", f"{child.job.spec.run_name}: lease lost, stopping it")
                child.stopping = True
                self._signal(child, signal.SIGKILL)

    def _reap(self) -> None:
        mine = [c.job.number for c in self.children.values()]
        for reaped in self.queue.reap(exclude=mine):
            if reaped.spec is not None:
                job = Job(-1, reaped.number, reaped.spec, reaped.attempt)
                self._close_runs(job, "FAILED", "killed")
            name = reaped.spec.run_name if reaped.spec else f"trial {reaped.number}"
            self._event("reaped", f"{name} (attempt {reaped.attempt}): {reaped.reason}")

    # ------------------------------------------------------------------ stopping

    def _signal(self, child: Child, signum: int) -> None:
        try:
            if signum == signal.SIGKILL:  # the whole group: data loader workers too
                os.killpg(child.proc.pid, signum)
            else:
                os.kill(child.proc.pid, signum)
        except ProcessLookupError:
            pass

    def _stop_children(self) -> None:
        n = len(self.children)
        self._event(
            "stopping", f"waiting for {n} running trial(s) to stop; Ctrl-C again to stop at once"
        )
        for child in self.children.values():
            child.stopping = True
            child.kill_at = time.time() + self.stop_grace_s
            self._signal(child, signal.SIGINT)

    def _kill_children(self) -> None:
        for child in self.children.values():
            child.stopping = True
            self._signal(child, signal.SIGKILL)
        for index, child in list(self.children.items()):
            child.proc.wait()
            del self.children[index]
            self._collect(child)

    def _slot_views(self) -> list[SlotView]:
        views = []
        now = time.time()
        for slot in self.slots:
            child = self.children.get(slot.index)
            if child is None:
                views.append(SlotView(slot.index, slot.describe()))
                continue
            status = child.status()
            views.append(
                SlotView(
                    slot.index,
                    slot.describe(),
                    child.job.spec.run_name,
                    child.job.attempt,
                    int(status.get("epoch") or 0),
                    status.get("epochs"),
                    now - child.started,
                )
            )
        return views


def _overhead(result: dict[str, Any], metrics: dict[str, Any]) -> dict[str, float]:
    """Where an attempt's wall time went: start-up (job handed over -> run_trial called: imports
    still under way in a spare that was not warm yet, reading the job), run_trial (of which
    training + evaluation are the trial's own work), and bookkeeping (child exit -> Optuna told,
    measured just after the tell). `warm` is 1.0 when the spare had finished its warm-up before
    it got the job (0.0 for a spare still warming up, or a cold child)."""
    timing = result.get("timing") or {}
    t_spawn, t_ready, t_end = timing.get("t_spawn"), timing.get("t_ready"), timing.get("t_end")
    if None in (t_spawn, t_ready, t_end):
        return {}
    own = float(metrics.get("train_time_s", 0.0)) + float(metrics.get("eval_time_s", 0.0))
    t_warm = timing.get("t_warm")
    return {
        "startup_s": t_ready - t_spawn,
        "trial_s": t_end - t_ready,
        "train_eval_s": own,
        "bookkeeping_s": time.time() - t_end,
        "wall_s": time.time() - t_spawn,
        "warm": float(t_warm is not None and t_warm <= t_spawn),
    }
