"""`specsweep report`: regenerate a sweep's report from MLflow.

    specsweep report sweeps/demo.yaml                       # experiment and store from the sweep
    specsweep report --experiment demo --tracking-uri http://mlflow:5000 --out /tmp/demo

Writes report.html (self-contained), report.md, the figures (PNG) and table.csv into --out
(default reports/out/<experiment>/) and logs the same files to the sweep's summary run in MLflow
under report/. Then (unless --no-log) logs the best model of each configuration
(`tracking.log_model: best`) and writes the takeaways into the experiment's description, which
the MLflow UI shows above the runs. --measure-inference first measures what each configuration
costs at inference (latency, throughput, MACs, memory) where its trials did not, from its logged
model, on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.errors import UserError
from runner.servers.remote import TRACKING_ENV

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="write the sweep's report (figures, takeaways, HTML) from its MLflow runs",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep",
        nargs="?",
        type=Path,
        metavar=SWEEP_METAVAR,
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
    parser.add_argument(
        "--measure-inference",
        action="store_true",
        help="first measure the inference cost of configurations that lack it, from their "
        "logged models, on this machine",
    )
    return parser


def target(
    sweep: Path | None, experiment: str | None, tracking_uri: str | None, command: str = "report"
) -> tuple[str, str]:
    """(experiment, tracking URI): the command line wins over the sweep file, which wins over
    the defaults. A UserError naming `command` (report, ui) when neither names an experiment."""
    from_file_experiment, from_file_uri = (None, None) if sweep is None else _from_sweep(sweep)
    experiment = experiment or from_file_experiment
    if not experiment:
        raise UserError(
            f"{command}: which sweep? Give a sweep file (specsweep {command} sweeps/demo.yaml) "
            "or --experiment NAME"
        )
    # --tracking-uri, else SPECSWEEP_TRACKING_URI (as `specsweep sweep`), else the file's.
    return experiment, tracking_uri or os.environ.get(
        TRACKING_ENV
    ) or from_file_uri or DEFAULT_TRACKING_URI


def _from_sweep(path: Path) -> tuple[str, str]:
    """The experiment name and tracking URI a sweep file uses (validated by `load_sweep`)."""
    from runner.sweep.load import load_sweep

    sweep = load_sweep(path)
    return sweep.tracking.experiment or sweep.name, sweep.tracking.uri


def default_out_dir(experiment: str) -> Path:
    """reports/out/<experiment>/, the name made safe for a folder."""
    return Path("reports") / "out" / (re.sub(r"[^A-Za-z0-9._-]+", "_", experiment) or "sweep")


def command(args: argparse.Namespace) -> int:
    # Heavy imports here, not at module level: `specsweep --help` must not load MLflow.
    from reports import takeaways, write_report
    from runner.tracking import experiment as experiment_page
    from runner.tracking import runs

    experiment, tracking_uri = target(args.sweep, args.experiment, args.tracking_uri)
    client = runs.connect(tracking_uri)
    if args.measure_inference:
        from runner.train.inference_cost import measure_logged_models

        for line in measure_logged_models(tracking_uri, experiment):
            print(f"report: {line}")
    table = runs.read_sweep(client, experiment)
    out_dir = args.out or default_out_dir(experiment)
    files = write_report(table, out_dir)
    counts = ", ".join(f"{n} {s}" for s, n in table.status_counts().items())
    print(f"report: {experiment}: {len(table.trials)} trials ({counts})")
    print(f"report: wrote {len(files)} files to {out_dir}/ (open {out_dir / 'report.html'})")
    if args.no_log:
        return 0
    run_id = runs.log_report(client, experiment, files)
    print(f"report: logged to MLflow run {run_id} under {runs.REPORT_ARTIFACT_PATH}/")
    models_line = None
    log_model, register_as = model_settings(client, experiment, args.sweep)
    if log_model == "best":
        from runner.tracking.logged_models import log_best_models

        done = log_best_models(client, tracking_uri, experiment, register_as=register_as)
        for line in done.lines():
            print(f"report: {line}")
        models_line = (
            f"Logged models: {len(done.models)} (the best seed of each configuration, "
            "`runs:/<run id>/model`; score recordings with `specsweep predict`)."
        )
    exp = runs.find_experiment(client, experiment)
    text = experiment_page.description(
        experiment,
        takeaways(table),
        exp.experiment_id,
        run_id,
        f"{len(table.trials)} trials ({counts}).",
        models_line,
    )
    experiment_page.write_description(client, exp.experiment_id, text)
    print(f"report: wrote the takeaways into experiment {experiment!r}'s description in the UI")
    return 0


def model_settings(client, experiment: str, sweep: Path | None) -> tuple[str, str | None]:
    """(tracking.log_model, tracking.register_as): the sweep file's, else what the sweep recorded
    in its experiment's tags, else the defaults."""
    if sweep is not None:
        from runner.sweep.load import load_sweep

        tracking = load_sweep(sweep).tracking
        return tracking.log_model, tracking.register_as
    from runner.tracking import runs
    from runner.tracking.logged_models import EXP_TAG_LOG_MODEL, EXP_TAG_REGISTER_AS

    tags = runs.find_experiment(client, experiment).tags
    return tags.get(EXP_TAG_LOG_MODEL, "best"), tags.get(EXP_TAG_REGISTER_AS) or None
