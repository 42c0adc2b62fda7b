"""Reports: a sweep's tidy table -> figures, computed takeaways, report.html / report.md.

This package owns everything after the runs are read: the table (`table`), the statistics
(`stats`, `analysis`), the names of settings (`labels`), the figures (`figures/`), the takeaway
sentences (`findings`), the page's sections (`sections`), its Markdown and HTML writers
(`document`) and `write_report`, which ties them together (`report`); `durations` writes a
duration for the report and for the runner's progress lines. It is pure: it works on a
`SweepTable`, never talks to MLflow or Optuna (`runner.tracking.runs` reads the runs into a
table) and imports nothing from `runner/`.
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
from reports.report import takeaways, write_report
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
