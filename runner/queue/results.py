"""The end of a sweep: its results table, the trials that learned nothing, the counts, what to
do next, and the exit code.

    code = print_results(sweep, queue, outcome, console, "sweeps/demo.yaml", retry_command)
    rows = result_rows(queue)    # one dict per point, best MAP first
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

from runner.servers.secrets import mask_url
from runner.sweep.config import SweepConfig

if TYPE_CHECKING:
    from rich.console import Console

    from runner.queue.study import SweepQueue
    from runner.queue.supervisor import Outcome

EXIT_FAILED = 1  # a trial failed for good, or the disk is full
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: run the same command again to resume


def result_rows(queue: SweepQueue) -> list[dict]:
    """One row per point: its state, MAP, training time, attempts; best MAP first."""
    from runner.queue.study import ATTR_NOT_LEARNED, ATTR_REASON, ATTR_TRAIN_TIME

    rows = []
    for point in queue.points():
        state = queue.state(point)
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
