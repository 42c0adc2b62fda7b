"""Child processes of the slots, and each slot's warm spare.

    spares = Spares(command, log_dir, name, tracking_uri, warn=print)
    spares.keep(now, slots, needs_spare, more_to_start)   # every supervisor tick
    proc = spares.take(slot, job_path) or spawn(command, slot, [str(job_path)], log_path)
    spares.drop()                                         # the sweep stops

Why spares: a fresh Python process needs seconds to import torch, timm and MLflow (11 s on this
loaded 2-core machine, benchmarks/RESULTS.md), which every trial would wait for. So each slot
keeps one *spare* child, spawned with the slot's environment, that does those imports while the
slot's current trial runs and then waits for a job path on its stdin (`runner.queue.worker --wait`).
Starting a trial hands the job to the slot's spare, and the slot gets its next spare once that
child is past its own start-up. Still one process per attempt, so a crash, OOM or SIGKILL takes
down one attempt only; spares hold no work, are SIGKILLed when the sweep stops, and die with the
supervisor (PR_SET_PDEATHSIG) like children.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runner.queue.slots import Slot

# A child: `WORKER_COMMAND JOB.json`, `--wait PID` (a warm spare) or `--probe-gpu`
# (runner.queue.worker); tests substitute a stand-in.
WORKER_COMMAND = [sys.executable, "-m", "runner.queue.worker"]


def spawn(
    command: list[str], slot: Slot, args: list[str], log_path: Path, stdin=subprocess.DEVNULL
) -> subprocess.Popen:
    """Start a child of `slot`: its environment (runner.queue.slots), output to `log_path`."""
    with open(log_path, "ab") as log:
        # A session of its own: the terminal's Ctrl-C reaches the supervisor only, which then
        # stops the children in order (and a second Ctrl-C can still kill them).
        return subprocess.Popen(
            [*command, *args],
            env=slot.env(dict(os.environ)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            start_new_session=True,
        )


@dataclass
class Spare:
    """A warm child of one slot: imports done (or under way), waiting for a job on its stdin."""

    slot: Slot
    proc: subprocess.Popen
    started: float
    log_path: Path  # its output until it takes a job (then the attempt's log)

    def alive(self) -> bool:
        return self.proc.poll() is None


class Spares:
    """At most one warm spare per slot, for the supervisor that owns them.

    command: the child's command line (`--wait PID --tracking-uri URI` is appended);
    name: this supervisor's (its slot folder's), which names the spares' logs in `log_dir`;
    warn: how a spare that died is reported, after which children start cold.
    """

    def __init__(
        self,
        command: list[str],
        log_dir: Path,
        name: str,
        tracking_uri: str,
        *,
        warn: Callable[[str], None],
        enabled: bool = True,
        idle_poll_s: float = 2.0,
    ):
        self.command = command
        self.log_dir = log_dir
        self.name = name
        self.tracking_uri = tracking_uri
        self.warn = warn
        self.enabled = enabled
        self.idle_poll_s = idle_poll_s
        self.by_slot: dict[int, Spare] = {}
        self._next_check = 0.0

    def keep(
        self,
        now: float,
        slots: list[Slot],
        needs_spare: Callable[[Slot], bool],
        more_to_start: Callable[[], int],
    ) -> None:
        """Give a spare to each slot that `needs_spare` (its child is past its own start-up, or it
        has none), as many as `more_to_start()` (attempts nobody runs yet) leaves work for beyond
        the spares already waiting. Waiting for the child's start-up keeps a spare's imports from
        competing with the imports of the trial that is starting."""
        if not self.enabled or now < self._next_check:
            return
        needy = []
        for slot in slots:
            spare = self.by_slot.get(slot.index)
            if spare is not None and not spare.alive():
                self._died(self.by_slot.pop(slot.index))
                return
            if spare is None and needs_spare(slot):
                needy.append(slot)
        if not needy:
            return
        wanted = more_to_start() - len(self.by_slot)  # the spares waiting take work first
        if wanted <= 0:
            self._next_check = now + self.idle_poll_s
            return
        for slot in needy[:wanted]:
            self.by_slot[slot.index] = self._spawn(slot)

    def take(self, slot: Slot, job_path: Path) -> subprocess.Popen | None:
        """The slot's warm spare, now running the job; None when there is none alive."""
        spare = self.by_slot.pop(slot.index, None)
        if spare is None:
            return None
        if spare.alive() and self._hand_over(spare, job_path):
            return spare.proc
        self._died(spare)
        return None

    def drop(self) -> None:
        """Stop every spare: they hold no work, so SIGKILL (their whole group) is the clean way."""
        for spare in self.by_slot.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(spare.proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                if spare.proc.stdin is not None:
                    spare.proc.stdin.close()
        for spare in self.by_slot.values():
            spare.proc.wait()
        self.by_slot.clear()

    def _spawn(self, slot: Slot) -> Spare:
        # Named after this supervisor too: another one may share the logs folder.
        log_path = self.log_dir / f"{self.name}-slot{slot.index}.spare.log"
        args = ["--wait", str(os.getpid()), "--tracking-uri", self.tracking_uri]
        proc = spawn(self.command, slot, args, log_path, subprocess.PIPE)
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

    def _died(self, spare: Spare) -> None:
        """A spare that exits before taking a job is broken (its log says why): stop using
        spares rather than spawn one that dies after another; children start cold from now on."""
        spare.proc.wait()
        self.enabled = False
        self.warn(
            f"spare child of slot {spare.slot.index} exited with code {spare.proc.returncode} "
            f"before taking a job (log: {spare.log_path}); starting children cold from now on"
        )
