"""`specsweep server`: a team MLflow tracking server (database backend + artifact directory).

specsweep server                                   # http://127.0.0.1:5000, sqlite + local artifacts
specsweep server --port 5001 --backend-store-uri postgresql://mlflow@db:5432/mlflow
specsweep server --host 0.0.0.0 --allowed-hosts 'gpu-head,gpu-head:5000'   # reachable from the nodes

Every supervisor then logs to it with `--tracking-uri http://HOST:PORT` (or SPECSWEEP_TRACKING_URI).
Runs are stored in the backend database; artifacts (configs, previews, per-class AP, reports) are
uploaded through the server into --artifacts-destination, so the nodes need no shared filesystem.

This is `mlflow server` with specsweep's defaults: bound to loopback unless told otherwise, a
database file under .specsweep/server/, the backend URI passed through the environment rather than
the command line (so a password in it does not show in `ps`), the database checked before start
(a wrong password is a one-line error, not a traceback), and MLflow's GenAI job runner off.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.commands import help_from_doc
from runner.errors import UserError
from runner.servers.postgres import free_port, port_is_free
from runner.servers.remote import check_database, is_database_url, scheme_of
from runner.servers.secrets import mask_url

DEFAULT_DIR = Path(".specsweep/server")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "server",
        help="start a team MLflow tracking server (database backend, artifact directory)",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)",
    )
    parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    parser.add_argument(
        "--backend-store-uri",
        default=None,
        help=(
            "database for runs, params and metrics: a PostgreSQL URL or sqlite:///FILE "
            f"(default sqlite:///{DEFAULT_DIR}/mlflow.db); may also come from SPECSWEEP_SERVER_BACKEND"
        ),
    )
    parser.add_argument(
        "--artifacts-destination",
        default=str(DEFAULT_DIR / "artifacts"),
        help=f"directory the server stores uploaded artifacts in (default {DEFAULT_DIR}/artifacts)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="HTTP worker processes (default 2; MLflow's is 4)"
    )
    parser.add_argument(
        "--allowed-hosts",
        default=None,
        help=(
            "Host headers the server accepts, comma-separated (MLflow's default: localhost and "
            "private IPs); name your head node here when clients use its host name"
        ),
    )
    return parser


def backend_store_uri(arg: str | None, environ=None) -> str:
    """--backend-store-uri, else $SPECSWEEP_SERVER_BACKEND, else a sqlite file under .specsweep/."""
    environ = os.environ if environ is None else environ
    uri = arg or environ.get("SPECSWEEP_SERVER_BACKEND")
    if uri:
        return uri
    return f"sqlite:///{(DEFAULT_DIR / 'mlflow.db').resolve()}"


def prepare_backend(uri: str) -> None:
    """Create a sqlite file's folder; connect once to a database backend (masked errors)."""
    scheme = scheme_of(uri)
    if scheme == "sqlite":
        path = uri.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    elif is_database_url(uri):
        check_database(uri, "backend store")
    else:
        raise UserError(
            f"--backend-store-uri {mask_url(uri)}: use a database, sqlite:///FILE or "
            "postgresql://user@host:port/database (the server needs a database backend)"
        )


def server_command(args: argparse.Namespace, artifacts: Path) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
    ]
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    return cmd


def command(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a TCP port; use 1024-65535, e.g. 5000")
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: must be at least 1")
    if not port_is_free(args.host, args.port):
        raise UserError(
            f"--port {args.port}: {args.host}:{args.port} is already in use (another MLflow "
            f"server?); pick a free port, e.g. --port {free_port(args.host)}"
        )
    uri = backend_store_uri(args.backend_store_uri)
    prepare_backend(uri)
    artifacts = Path(args.artifacts_destination).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)

    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(
        f"specsweep server: MLflow tracking server on http://{shown_host}:{args.port}\n"
        f"  backend store: {mask_url(uri)}\n"
        f"  artifacts:     {artifacts}\n"
        f"  use it with:   specsweep sweep SWEEP.yaml --tracking-uri http://<this host>:{args.port}"
        + ("" if args.host not in ("127.0.0.1", "localhost") else "  (this machine only)"),
        file=sys.stderr,
        flush=True,
    )
    env = dict(os.environ)
    # Through the environment, not argv: a password in the URI would show in `ps` otherwise.
    env["MLFLOW_BACKEND_STORE_URI"] = uri
    # MLflow's GenAI job runner (huey workers) is not used by sweeps; it costs processes and CPU.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    # exec: this process becomes the server, so Ctrl-C and SIGTERM reach MLflow, which forwards
    # them to its HTTP workers and shuts down cleanly.
    cmd = server_command(args, artifacts)
    os.execve(cmd[0], cmd, env)
    return 0  # not reached
