"""Reports: a sweep's tidy table -> figures, computed takeaways, report.html / report.md.

Pure: works on a `SweepTable` and never talks to MLflow (`runner.tracking.runs` reads the runs into one).
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
