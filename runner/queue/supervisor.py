"""One supervisor per machine: fill every slot with a child process running one trial.

    slots = plan_slots(sweep.resources)                 # runner.queue.slots
    outcome = Supervisor(sweep, queue, slots, tracking_uri=..., experiment=...,
                         progress=progress).run()

The loop, every tick (0.2 s): collect children that exited and tell Optuna how they ended
(COMPLETE with the objective, PRUNED, FAIL + retry; `runner.queue.job` is what a child is handed
and hands back); give each free slot the next queued attempt (`SweepQueue.take`), through the
slot's warm spare (`runner.queue.spares`); renew the leases of running attempts; now and then
reap attempts whose supervisor died. The sweep ends when nothing is queued or running anywhere.

Why children and not threads: each trial gets a fresh process with `CUDA_VISIBLE_DEVICES` set
before anything could initialise CUDA (this process never does: it counts GPUs with
`nvidia-smi -L`), its own thread budget (`OMP_NUM_THREADS`, torch threads), and a crash, OOM or
SIGKILL takes one attempt down, never the sweep.

Stopping: the first Ctrl-C (or SIGTERM, or SLURM's SIGUSR1) stops taking work and sends SIGINT
to every child; each ends its MLflow run KILLED `interrupted` and its attempt goes back to the
queue without using a retry. A second Ctrl-C SIGKILLs the children at once and does the same
bookkeeping here. Either way `specsweep sweep` started again resumes (children resume from
their checkpoints).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from runner.queue.job import ExitCode, Job, Pruning, Result, Status, ending
from runner.queue.progress import Progress, SlotView
from runner.queue.slots import Slot
from runner.queue.spares import WORKER_COMMAND, Spares, spawn
from runner.queue.study import (
    ATTR_NOT_LEARNED,
    ATTR_RUN_ID,
    ATTR_TRAIN_TIME,
    ATTR_USER_ERROR,
    REASON_DISK_FULL,
    Attempt,
    SweepQueue,
)
from runner.tracking.experiment import close_runs, ensure_experiment

if TYPE_CHECKING:
    from runner.sweep.config import SweepConfig
    from runner.sweep.spec import TrialSpec


@dataclass
class Child:
    """A running child process: the attempt it took from the queue and the job it was handed."""

    slot: Slot
    taken: Attempt
    job: Job
    proc: subprocess.Popen
    stopping: bool = False  # we asked it to stop: whatever it ends with, the attempt is requeued
    kill_at: float | None = None

    @property
    def started(self) -> float:
        return self.job.t_spawn

    def status(self) -> Status | None:
        return Status.read(self.job.status_path)


@dataclass
class Outcome:
    """How this supervisor's run ended."""

    interrupted: bool = False
    disk_full: str | None = None  # an attempt ran out of disk space: the one-line reason
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
        self.worker_command = worker_command or WORKER_COMMAND
        self.spares = Spares(
            self.worker_command,
            self.run_dir / "logs",
            self.slot_dir.name,
            tracking_uri,
            warn=lambda message: self._event("warning", message),
            enabled=warm_spares,
            idle_poll_s=self.idle_poll_s,
        )
        self.first_set = sweep.eval.sets[0]
        self.pruning = Pruning.of(sweep)
        self.children: dict[int, Child] = {}  # slot index -> child
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
            self.spares.drop()
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
            if (self._interrupts or self.outcome.disk_full) and not stopping:
                stopping = True
                self.outcome.interrupted = bool(self._interrupts)
                self.spares.drop()
                self._stop_children()
            if self._interrupts >= 2:
                self._kill_children()
                return
            for index, child in list(self.children.items()):
                if child.proc.poll() is not None:
                    del self.children[index]
                    self._tell(child)
                    last_view = 0.0  # redraw now: the counts changed
                elif child.kill_at is not None and now > child.kill_at:
                    self._signal(child, signal.SIGKILL)
            if not stopping:
                self.spares.keep(now, self.slots, self._needs_spare, self._more_to_start)
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
            taken = self.queue.take()
            if taken is None:
                return False
            self.children[slot.index] = self._start(slot, taken)
        return True

    def _needs_spare(self, slot: Slot) -> bool:
        """A slot with no child, or whose child is past its start-up (it wrote its status)."""
        child = self.children.get(slot.index)
        return child is None or child.job.status_path.exists()

    def _more_to_start(self) -> int:
        """How many attempts the queue may still give out that nobody runs yet (at most one per
        slot): spares are started for those only."""
        counts = self.queue.counts()
        sampled = counts.total - len(self.queue.points()) if self.queue.to_sample(counts) else 0
        return min(counts.queued + max(sampled, 0), len(self.slots))

    def _start(self, slot: Slot, taken: Attempt) -> Child:
        files = self.slot_dir / f"slot{slot.index}"
        job = Job(
            spec=taken.spec,
            attempt=taken.attempt,
            trial_number=taken.number,
            trial_id=taken.trial_id,
            study=self.queue.study.study_name,
            storage_url=self.queue.store.url,
            tracking_uri=self.tracking_uri,
            experiment=self.experiment,
            log_model=self.sweep.tracking.log_model,
            system_metrics_s=self.sweep.tracking.system_metrics_s,
            device=slot.device,
            threads=slot.threads,
            pruning=self.pruning,
            status_path=files.with_suffix(".status.json"),
            result_path=files.with_suffix(".result.json"),
            log_path=self.run_dir / "logs" / f"{taken.spec.run_name}-a{taken.attempt}.log",
            supervisor_pid=os.getpid(),
            t_spawn=time.time(),
        )
        for stale in (job.result_path, job.status_path):
            stale.unlink(missing_ok=True)
        job_path = files.with_suffix(".job.json")
        job.write(job_path)
        proc = self.spares.take(slot, job_path)
        if proc is None:  # no warm spare (off, or it died): a cold child, the job as its argument
            proc = spawn(self.worker_command, slot, [str(job_path)], job.log_path)
        self.outcome.ran += 1
        retry = f" (attempt {taken.attempt})" if taken.attempt > 1 else ""
        self._event(
            "started", f"{taken.spec.run_name}{retry} on slot {slot.index} [{slot.describe()}]"
        )
        return Child(slot, taken, job, proc)

    # ------------------------------------------------------------------ finishing

    def _tell(self, child: Child) -> None:
        """Tell Optuna (and MLflow, when the child could not) how the child's attempt ended."""
        taken, code = child.taken, child.proc.returncode
        name = taken.spec.run_name
        duration_s = time.time() - child.started
        result = self._result(child)
        ended = ending(code, result)  # None: it died without recording how it ended
        metrics = result.metrics if result else {}
        attrs = {ATTR_RUN_ID: result.run_id} if result and result.run_id else {}
        if ended == ExitCode.FINISHED and f"map_{self.first_set}" in metrics:
            assert result is not None
            map_value = float(metrics[f"map_{self.first_set}"])
            train_s = float(metrics.get("train_time_s", float("nan")))
            values = (
                [map_value, train_s]
                if self.sweep.search.objective == "map_and_time"
                else [map_value]
            )
            if metrics.get("learned") == 0.0:  # runner.train.recipe.learned_verdict said no
                attrs[ATTR_NOT_LEARNED] = str(result.learned_reason or "learned=no")
            self.queue.complete(taken, values, {**attrs, ATTR_TRAIN_TIME: train_s})
            self.outcome.durations_s.append(duration_s)
            self.outcome.overheads.append(result.overhead(time.time()))
            self.progress.trial_finished(duration_s)
            self._event(
                "done",
                f"{name}  MAP {map_value:.3f}  train {train_s:.1f} s  (trial {duration_s:.1f} s)",
            )
            return
        if ended == ExitCode.PRUNED:
            self.queue.prune(taken, attrs)
            self.progress.trial_finished(duration_s)
            status = child.status()
            self._event("pruned", f"{name} at epoch {status.epoch if status else '?'}")
            return
        if child.stopping or ended == ExitCode.INTERRUPTED:
            if ended is None:  # killed before it could end its MLflow run: close it here
                self._close_runs(taken.spec, taken.attempt, "KILLED", "interrupted")
            self.queue.requeue(taken)
            self._event("stopped", f"{name}: back in the queue")
            return
        if ended in (ExitCode.FAILED, ExitCode.USER_ERROR):
            assert result is not None
            reason = result.reason or "error: unknown"
        elif ended == ExitCode.FINISHED:
            reason = f"error: the trial logged no map_{self.first_set}"
        else:
            # Killed by a signal (negative code) or crashed before writing its result: its MLflow
            # run is still RUNNING; only this process can say it is over.
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            reason = f"killed: {how}"
            self._close_runs(taken.spec, taken.attempt, "FAILED", "killed")
        if reason.startswith(REASON_DISK_FULL):  # not the trial's fault: no retry used, stop
            self.queue.fail(taken, reason, attrs)
            self.outcome.disk_full = self.outcome.disk_full or reason
            self._event("disk full", f"{name}: {reason}  (log: {child.job.log_path})")
            return
        user_error = ended == ExitCode.USER_ERROR
        if user_error:
            attrs[ATTR_USER_ERROR] = True
        self.queue.fail(taken, reason, attrs)
        failures = taken.attempt  # upper bound; the queue knows the exact count
        key = (taken.spec.cfg_key, taken.spec.seed)
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
            f"{name} (attempt {taken.attempt}): {reason}  -> {what}  (log: {child.job.log_path})",
        )

    def _result(self, child: Child) -> Result | None:
        """The child's result file; None when it wrote none, or one this code cannot read."""
        try:
            return Result.read(child.job.result_path)
        except (OSError, ValueError, TypeError) as err:  # ProtocolError is a ValueError
            self._event("warning", f"{child.taken.spec.run_name}: result not read: {err}")
            return None

    def _event(self, kind: str, message: str) -> None:
        self.progress.counts = self.queue.counts()  # so a log line shows the counts after the event
        self.progress.event(kind, message)

    def _close_runs(self, spec: TrialSpec, attempt: int, status: str, reason: str) -> None:
        try:
            close_runs(
                self.tracking_uri,
                self._experiment_id,
                spec.cfg_key,
                spec.seed,
                attempt,
                status,
                reason,
            )
        except Exception as err:  # the queue's bookkeeping must go on even if MLflow is away
            from runner.train.outcome import failure_reason

            why = failure_reason(err, self.tracking_uri)[1]  # one line, never SQL
            self._event("warning", f"could not close the MLflow run of {spec.run_name}: {why}")

    # ------------------------------------------------------------------ leases

    def _heartbeat(self) -> None:
        for child in list(self.children.values()):
            if not self.queue.heartbeat(child.taken):
                # Reaped by another supervisor (we looked dead): its next attempt is queued, so
                # this one must not finish too.
                self._event("lost", f"{child.taken.spec.run_name}: lease lost, stopping it")
                child.stopping = True
                self._signal(child, signal.SIGKILL)

    def _reap(self) -> None:
        mine = [c.taken.number for c in self.children.values()]
        for reaped in self.queue.reap(exclude=mine):
            if reaped.spec is not None:
                self._close_runs(reaped.spec, reaped.attempt, "FAILED", "killed")
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
            self._tell(child)

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
                    child.taken.spec.run_name,
                    child.taken.attempt,
                    status.epoch if status else 0,
                    status.epochs if status else None,
                    now - child.started,
                )
            )
        return views
