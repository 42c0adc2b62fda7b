"""`specsweep report`: regenerate a sweep's report from MLflow.

    specsweep report sweeps/demo.yaml                       # experiment and store from the sweep
    specsweep report --experiment demo --tracking-uri http://mlflow:5000 --out /tmp/demo

Writes report.html (self-contained), report.md, the figures (PNG) and table.csv into --out
(default reports/out/<experiment>/) and logs the same files to the sweep's summary run in MLflow
under report/.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from runner.errors import UserError
from runner.remote import TRACKING_ENV

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="write the sweep's report (figures, takeaways, HTML) from its MLflow runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sweep",
        nargs="?",
        type=Path,
        metavar="SWEEP.yaml",
        help="sweep file: its experiment (tracking.experiment or name) and tracking.uri",
    )
    parser.add_argument("--experiment", help="MLflow experiment name (overrides the sweep file)")
    parser.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking URI (overrides the sweep file; default {DEFAULT_TRACKING_URI})",
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default reports/out/<experiment>/)"
    )
    parser.add_argument(
        "--no-log", action="store_true", help="write the files only; do not log them to MLflow"
    )
    return parser


def target(sweep: Path | None, experiment: str | None, tracking_uri: str | None) -> tuple[str, str]:
    """(experiment, tracking URI): the command line wins over the sweep file, which wins over
    the defaults. A UserError when neither names an experiment."""
    from_file_experiment, from_file_uri = (None, None) if sweep is None else _from_sweep(sweep)
    experiment = experiment or from_file_experiment
    if not experiment:
        raise UserError(
            "report: which sweep? Give a sweep file (specsweep report sweeps/demo.yaml) or "
            "--experiment NAME"
        )
    # --tracking-uri, else SPECSWEEP_TRACKING_URI (as `specsweep sweep`), else the file's.
    return experiment, tracking_uri or os.environ.get(
        TRACKING_ENV
    ) or from_file_uri or DEFAULT_TRACKING_URI


def _from_sweep(path: Path) -> tuple[str, str]:
    """The experiment name and tracking URI a sweep file uses (validated by `load_sweep`)."""
    from runner.config import load_sweep

    sweep = load_sweep(path)
    return sweep.tracking.experiment or sweep.name, sweep.tracking.uri


def default_out_dir(experiment: str) -> Path:
    """reports/out/<experiment>/, the name made safe for a folder."""
    return Path("reports") / "out" / (re.sub(r"[^A-Za-z0-9._-]+", "_", experiment) or "sweep")


def command(args: argparse.Namespace) -> int:
    # Heavy imports here, not at module level: `specsweep --help` must not load MLflow.
    from reports import write_report
    from runner import runs

    experiment, tracking_uri = target(args.sweep, args.experiment, args.tracking_uri)
    client = runs.connect(tracking_uri)
    table = runs.read_sweep(client, experiment)
    out_dir = args.out or default_out_dir(experiment)
    files = write_report(table, out_dir)
    counts = ", ".join(f"{n} {s}" for s, n in table.status_counts().items())
    print(f"report: {experiment}: {len(table.trials)} trials ({counts})")
    print(f"report: wrote {len(files)} files to {out_dir}/ (open {out_dir / 'report.html'})")
    if not args.no_log:
        run_id = runs.log_report(client, experiment, files)
        print(f"report: logged to MLflow run {run_id} under {runs.REPORT_ARTIFACT_PATH}/")
    return 0
