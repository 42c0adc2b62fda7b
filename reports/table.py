"""The tidy table a report is computed from: one row per trial (configuration x seed).

Everything in `reports/` works on a `SweepTable` and never imports MLflow; `runner/tracking/runs.py` builds
the table from an experiment's runs. Tests and other front ends (a CSV, a notebook) can build one
by hand.

    table = SweepTable(experiment="demo", swept_keys=("frontend.scale",), eval_sets=("test",),
                       trials=(Trial(...), ...))
    table.to_csv("table.csv")
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# A trial's state as the report names it. MLflow's FAILED maps to "failed", KILLED to "pruned"
# when the run's `reason` tag says so and to "killed" otherwise, RUNNING/SCHEDULED to "running".
STATUSES = ("finished", "running", "failed", "pruned", "killed")


@dataclass(frozen=True)
class Trial:
    """One trial: a configuration trained with one seed (the latest MLflow run for that pair).

    `map` holds the final MAP per evaluation set (`map_<set>` metrics); it is empty for a trial that
    never reached evaluation. `curves` holds the per-epoch validation MAP, `((epoch, map), ...)`
    with 1-based epochs, per evaluation set. `frontend_params` is the `frontend_params.json` a
    trial with a learnable compression logs: `{"band_hz": [...], "compressions": {name:
    {"learnable", "values": {param: [...]}, "initial": {param: value}}}}`.
    """

    run_id: str
    name: str
    cfg_key: str
    seed: int
    status: str
    swept: Mapping[str, Any]
    map: Mapping[str, float] = field(default_factory=dict)
    train_time_s: float | None = None
    reason: str | None = None
    attempts: int = 1
    metrics: Mapping[str, float] = field(default_factory=dict)
    curves: Mapping[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    # The run's frontend_params.json (what its exp / PCEN learned); empty without one.
    frontend_params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def finished(self) -> bool:
        return self.status == "finished"


@dataclass(frozen=True)
class SweepTable:
    """Every trial of one sweep, plus what the report needs beside the numbers.

    `swept_keys` are the dotted config keys the grid varies, in grid order; `eval_sets` the
    evaluation set names (the `<set>` in `map_<set>`); `previews` maps a configuration's `cfg_key`
    to its frontend output for the fixed preview clip, `(channels, H, W)` float32. `fixed` holds
    the config values (dotted keys) every finished trial shares; `machines` the machines their
    training times were measured on: `hostname`, `cpu`, `cpu_count`, `device`, `gpu`,
    `torch_threads`, and `trials` (how many ran there) and `at_once` (the most at the same time).
    """

    experiment: str
    swept_keys: tuple[str, ...]
    eval_sets: tuple[str, ...]
    trials: tuple[Trial, ...]
    previews: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    machines: tuple[Mapping[str, Any], ...] = ()

    def status_counts(self) -> dict[str, int]:
        """`{status: count}` over trials, in `STATUSES` order, zero counts left out."""
        counts = {s: sum(t.status == s for t in self.trials) for s in STATUSES}
        return {s: n for s, n in counts.items() if n}

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(sorted({t.seed for t in self.trials}))

    def columns(self) -> list[str]:
        """CSV columns: identity, swept values, status, then MAP per set and the other metrics."""
        metric_keys = sorted({k for t in self.trials for k in t.metrics})
        maps = [f"map_{s}" for s in self.eval_sets]
        rest = [k for k in metric_keys if k not in maps and k != "train_time_s"]
        return [
            "trial",
            "cfg_key",
            "seed",
            *self.swept_keys,
            "status",
            "reason",
            "attempts",
            *maps,
            "train_time_s",
            *rest,
            "run_id",
        ]

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per trial, keyed by `columns()`; missing values are None."""
        out = []
        for t in self.trials:
            row: dict[str, Any] = {
                "trial": t.name,
                "cfg_key": t.cfg_key,
                "seed": t.seed,
                "status": t.status,
                "reason": t.reason,
                "attempts": t.attempts,
                "train_time_s": t.train_time_s,
                "run_id": t.run_id,
            }
            row.update({k: t.swept.get(k) for k in self.swept_keys})
            row.update(t.metrics)
            row.update({f"map_{s}": t.map.get(s) for s in self.eval_sets})
            out.append({c: row.get(c) for c in self.columns()})
        return out

    def to_csv(self, path: str | Path) -> Path:
        """Write the table as CSV (tuples as JSON, None as empty) and return the path."""
        path = Path(path)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns())
            writer.writeheader()
            for row in self.rows():
                writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        return path


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, tuple | list):
        return json.dumps(list(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # full precision: the CSV must equal the logged metric
    return str(value)
