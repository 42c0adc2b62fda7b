"""Where a sweep stands: a live rich panel on a terminal, one line per event elsewhere.

    progress = Progress.create("demo")                   # live when stdout is a terminal
    with progress:
        progress.event("done", "w512-h128-mel-s0  MAP 0.812  train 41.2 s")
        progress.update(counts, slots)                   # redraw (a no-op when not live)

On a terminal the panel shows the counts (done / running / failed / pruned / queued), an ETA
from the measured durations of this run's trials, and each slot's trial, attempt and epoch;
events scroll above it. Not on a terminal (CI, `> sweep.log`) only events are written, one
line each with a timestamp and the counts, so a log file stays readable.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from reports.durations import format_duration
from runner.queue.study import Counts


@dataclass(frozen=True)
class SlotView:
    """What one slot is doing now (trial None: idle)."""

    slot: int
    device: str  # Slot.describe(): "cpu (1 thread)", "gpu 0 (4 threads)"
    trial: str | None = None  # "w512-h128-mel-s0"
    attempt: int = 0
    epoch: int = 0
    epochs: int | None = None
    elapsed_s: float = 0.0


def estimate_eta_s(counts: Counts, durations_s: list[float], slots: list[SlotView]) -> float | None:
    """Seconds until the sweep ends: queued trials at the mean measured duration, shared by the
    slots, plus what the running ones still need. None before any trial has finished here."""
    if not durations_s or not slots:
        return None
    mean_s = sum(durations_s) / len(durations_s)
    running = [s for s in slots if s.trial is not None]
    left_running = sum(max(mean_s - s.elapsed_s, 0.0) for s in running)
    waiting = max(counts.remaining - len(running), 0)
    return (waiting * mean_s + left_running) / len(slots)


def counts_line(counts: Counts) -> str:
    parts = [f"{counts.finished}/{counts.total} finished", f"{counts.complete} done"]
    parts += [f"{counts.running} running", f"{counts.queued} queued"]
    if counts.pruned:
        parts.append(f"{counts.pruned} pruned")
    if counts.failed:
        parts.append(f"{counts.failed} failed")
    if counts.retrying:
        parts.append(f"{counts.retrying} retrying")
    return ", ".join(parts)


class Progress:
    """The sweep's progress output; `live` picks the panel (terminal) or plain lines."""

    def __init__(self, title: str, console: Console, live: bool):
        self.title = title
        self.console = console
        self.live = live
        self.counts: Counts | None = None
        self.slots: list[SlotView] = []
        self.durations_s: list[float] = []
        self._live: Live | None = None
        self._t0 = time.time()

    @classmethod
    def create(cls, title: str, live: bool | None = None) -> Progress:
        console = Console(highlight=False)
        if live is None:
            live = sys.stdout.isatty() and console.is_terminal
        if not console.is_terminal:  # a log file: no reason to wrap tables at 80 columns
            console = Console(
                highlight=False,
                soft_wrap=True,
                width=max(int(os.environ.get("COLUMNS", 0) or 0), 120),
            )
        return cls(title, console, live)

    def __enter__(self) -> Progress:
        if self.live:
            self._live = Live(
                self._render(), console=self.console, refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def event(self, kind: str, message: str) -> None:
        """One thing that happened (the supervisor's kinds: started, done, failed, pruned,
        stopped, reaped, lost, stopping, warning); a line above the panel, or on its own."""
        stamp = time.strftime("%H:%M:%S")
        if self._live is not None:
            style = {"done": "green", "failed": "red", "pruned": "yellow"}.get(kind, "")
            self.console.print(Text(f"{stamp} {kind:<8} {message}", style=style))
            return
        tail = f"  [{counts_line(self.counts)}]" if self.counts is not None else ""
        print(f"{stamp} {kind:<8} {message}{tail}", flush=True)

    def trial_finished(self, duration_s: float) -> None:
        self.durations_s.append(duration_s)

    def update(self, counts: Counts, slots: list[SlotView]) -> None:
        self.counts = counts
        self.slots = slots
        if self._live is not None:
            self._live.update(self._render())

    def eta_s(self) -> float | None:
        if self.counts is None:
            return None
        return estimate_eta_s(self.counts, self.durations_s, self.slots)

    def _render(self) -> Group:
        head = Text(f"sweep {self.title}", style="bold")
        if self.counts is not None:
            head.append(f"   {counts_line(self.counts)}")
        head.append(
            f"   elapsed {format_duration(time.time() - self._t0)}   ETA {format_duration(self.eta_s())}"
        )
        table = Table(box=None, pad_edge=False, header_style="dim")
        for name in ("slot", "device", "trial", "attempt", "epoch", "time"):
            table.add_column(name)
        for s in self.slots:
            if s.trial is None:
                table.add_row(str(s.slot), s.device, "[dim]idle[/dim]", "", "", "")
                continue
            epoch = f"{s.epoch}/{s.epochs}" if s.epochs else str(s.epoch)
            table.add_row(
                str(s.slot), s.device, s.trial, str(s.attempt), epoch, format_duration(s.elapsed_s)
            )
        return Group(head, table)
