"""`specsweep ui SWEEP.yaml`: the MLflow UI, opened on the sweep's runs ranked by MAP.

    specsweep ui sweeps/demo.yaml                    # starts `mlflow ui` on sqlite:///mlflow.db
    specsweep ui --experiment demo --port 5001
    specsweep ui sweeps/demo.yaml --tracking-uri http://mlflow.lab:5000   # a server: links only

Prints two links (and opens the first in a browser where there is a display): the runs sorted by
MAP on the first evaluation set, with MAP per set, training time and the swept values as
columns; and the same grouped by configuration, each row the mean over its seeds. For a local
store it runs the UI until Ctrl-C; for a tracking server it only prints the links.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.errors import UserError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
START_TIMEOUT_S = 90


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "ui",
        help="the MLflow UI, opened on the sweep's runs ranked by MAP",
        **help_from_doc(__doc__),
    )
    parser.add_argument("sweep", nargs="?", type=Path, metavar=SWEEP_METAVAR, help="sweep file")
    parser.add_argument("--experiment", help="MLflow experiment name (overrides the sweep file)")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (overrides the sweep file)")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 5000)")
    parser.add_argument(
        "--no-browser", action="store_true", help="print the links only; open no browser"
    )
    return parser


def command(args: argparse.Namespace) -> int:
    from runner.commands.report import target
    from runner.commands.server import free_port, port_is_free
    from runner.tracking import experiment as experiment_page
    from runner.tracking import runs

    experiment, tracking_uri = target(args.sweep, args.experiment, args.tracking_uri, "ui")
    client = runs.connect(tracking_uri)
    exp = runs.find_experiment(client, experiment)
    tag_experiment(client, exp)
    remote = tracking_uri.startswith(("http://", "https://"))
    if remote:
        base = tracking_uri
    else:
        if not 0 < args.port < 65536:
            raise UserError(f"--port {args.port}: not a TCP port; use 1024-65535, e.g. 5000")
        if not port_is_free(args.host, args.port):
            raise UserError(
                f"--port {args.port}: {args.host}:{args.port} is already in use (another MLflow "
                f"UI? then open the links on it); or pick a free port, e.g. --port "
                f"{free_port(args.host)}"
            )
        shown = DEFAULT_HOST if args.host in ("0.0.0.0", "::") else args.host
        base = f"http://{shown}:{args.port}"
    ranked = experiment_page.runs_url(base, exp.experiment_id)
    grouped = experiment_page.runs_url(base, exp.experiment_id, grouped=True)
    if remote:
        print_links(experiment, ranked, grouped)
        maybe_open(ranked, args.no_browser)
        return 0
    process = start_ui(tracking_uri, args.host, args.port)
    signal.signal(signal.SIGTERM, _interrupt)  # stopped by a supervisor of ours: stop the UI too
    try:
        wait_until_up(process, base)
        print_links(experiment, ranked, grouped)
        print("ui: Ctrl-C stops it", flush=True)
        maybe_open(ranked, args.no_browser)
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=30)
        return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def tag_experiment(client, exp) -> None:
    """The UI views of an experiment (runner/tracking/experiment.py), from its runs' metrics and
    swept keys, so a sweep run before they existed gets them too."""
    from runner.tracking import experiment as experiment_page
    from runner.tracking import runs

    trial_runs = runs._search_all(client, exp.experiment_id, f"tags.`{runs.KIND_TAG}` = 'trial'")
    experiment_page.prepare(
        client,
        exp.experiment_id,
        runs._eval_sets(trial_runs),
        runs._swept_keys(trial_runs) if trial_runs else (),
    )


def start_ui(tracking_uri: str, host: str, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env["MLFLOW_BACKEND_STORE_URI"] = tracking_uri
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    # One worker: one person browsing (MLflow's default of 4 costs ~4 processes of start-up).
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    print(f"ui: starting the MLflow UI on {host}:{port} for {tracking_uri}", flush=True)
    # MLflow's own output to stderr: stdout carries only the links (for scripts and tests).
    return subprocess.Popen(cmd, env=env, stdout=sys.stderr)


def wait_until_up(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(f"ui: mlflow ui exited with code {process.returncode}; see its output")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise UserError(f"ui: the MLflow UI did not answer at {base} within {START_TIMEOUT_S} s")


def print_links(experiment: str, ranked: str, grouped: str) -> None:
    print(f"ui: {experiment}, runs best first:        {ranked}")
    print(f"ui: {experiment}, mean over seeds per config: {grouped}", flush=True)


def maybe_open(url: str, no_browser: bool) -> None:
    """Open `url` where a browser can show it (a desktop session); otherwise the link is enough."""
    if no_browser:
        return
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return
    import webbrowser

    webbrowser.open(url)
