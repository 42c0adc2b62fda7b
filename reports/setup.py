"""What a sweep held fixed and where its times were measured, as the report's "Setup" lines.

    setup_lines(table)   # ["Fixed settings (...): model ..., 8 epochs, ...", "Measured on: ..."]

Training times only compare within one machine and one way of sharing it (slots, threads), so
the report says which; the fixed settings say what every MAP in it was trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.table import SweepTable

# The fixed settings worth a reader's eye, in reading order: (dotted key, how to write it).
_SHOWN = (
    ("model.name", "model {}"),
    ("model.pretrained", "pretrained: {}"),
    ("train.epochs", "{} epochs"),
    ("train.optimizer", "{}"),
    ("train.lr", "lr {}"),
    ("train.schedule", "{} schedule"),
    ("train.batch_size", "batch {}"),
    ("frontend.sample_rate", "{} Hz"),
    ("data.clip_s", "{} s clips"),
)


def setup_lines(table: SweepTable) -> list[str]:
    """The fixed settings and the machines, one sentence each; [] when nothing is known (no
    trial finished, or runs logged before the runs recorded them)."""
    lines = []
    shown = [form.format(_text(table.fixed[k])) for k, form in _SHOWN if k in table.fixed]
    if shown:
        lines.append(f"Fixed settings (the same in every finished trial): {', '.join(shown)}.")
    if table.machines:
        where = "; ".join(_machine_text(m) for m in table.machines)
        lines.append(f"Training times measured on {where}.")
    return lines


def _machine_text(m: Mapping[str, Any]) -> str:
    """ "host-a (AMD EPYC 7B13, 2 cores): cpu, 1 torch thread per trial, up to 2 trials at once,
    12 trials" """
    cores = f", {m['cpu_count']} cores" if m.get("cpu_count") else ""
    device = m.get("device") or "?"
    if m.get("gpu"):
        device += f" ({m['gpu']})"
    threads = m.get("torch_threads")
    per_trial = (
        f", {threads} torch thread{'s' if threads != 1 else ''} per trial" if threads else ""
    )
    n, at_once = m.get("trials", 0), m.get("at_once", 1)
    return (
        f"{m.get('hostname') or '?'} ({m.get('cpu') or 'unknown CPU'}{cores}): {device}{per_trial}, "
        f"up to {at_once} trial{'s' if at_once != 1 else ''} at once, "
        f"{n} trial{'s' if n != 1 else ''}"
    )


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
