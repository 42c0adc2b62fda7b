"""Reports: a sweep's tidy table -> figures, computed takeaways, report.html / report.md.

This package owns everything after the runs are read: the table (`table`), the statistics
(`stats`, `analysis`), the names of settings (`labels`), the figures (`figures/`), the takeaway
sentences (`findings`), the page's sections (`sections`), its Markdown and HTML writers
(`document`), what the sweep held fixed and where it ran (`setup`) and `write_report`, which ties
them together (`report`); `durations` writes a
duration for the report and for the runner's progress lines. It is pure: it works on a
`SweepTable`, never talks to MLflow or Optuna (`runner.tracking.runs` reads the runs into a
table) and imports nothing from `runner/`.

`write_report` and `takeaways` (which bring matplotlib) are imported on first use, so the light
parts (`table`, `durations`, `stats`) cost a caller no plotting library.
"""

from reports.analysis import (
    Comparison,
    Configuration,
    VersusBaseline,
    comparisons,
    pareto_front,
    seed_std,
    summarise,
    versus_baseline,
)
from reports.stats import PairedTest, paired_test
from reports.table import STATUSES, SweepTable, Trial

__all__ = [
    "STATUSES",
    "Comparison",
    "Configuration",
    "PairedTest",
    "SweepTable",
    "Trial",
    "VersusBaseline",
    "comparisons",
    "paired_test",
    "pareto_front",
    "seed_std",
    "summarise",
    "takeaways",
    "versus_baseline",
    "write_report",
]


def __getattr__(name: str):
    if name in ("takeaways", "write_report"):
        from reports import report

        return getattr(report, name)
    raise AttributeError(f"module 'reports' has no attribute {name!r}")
