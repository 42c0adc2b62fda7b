"""Reports: a sweep's tidy table -> figures, computed takeaways, report.html / report.md.

Pure: works on a `SweepTable` and never talks to MLflow (`runner.runs` reads the runs into one).
"""

from reports.analysis import (
    Comparison,
    Configuration,
    comparisons,
    pareto_front,
    seed_std,
    summarise,
)
from reports.report import takeaways, write_report
from reports.table import STATUSES, SweepTable, Trial

__all__ = [
    "STATUSES",
    "Comparison",
    "Configuration",
    "SweepTable",
    "Trial",
    "comparisons",
    "pareto_front",
    "seed_std",
    "summarise",
    "takeaways",
    "write_report",
]
