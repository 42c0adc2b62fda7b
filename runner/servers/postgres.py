"""A private PostgreSQL server for the Optuna queue: installed, initialised, started and stopped here.

Several supervisors (one per machine) share one sweep through Optuna's RDB storage on PostgreSQL.
A lab usually has a database server already; this module gives everyone else (and the tests) one
in two commands, from Debian's own packages:

    python -m runner.servers.postgres start --dir .specsweep/postgres --port 5433
    export PGPASSWORD="$(cat .specsweep/postgres/password)"
    specsweep sweep sweeps/demo.yaml --storage postgresql://specsweep@127.0.0.1:5433/specsweep
    python -m runner.servers.postgres stop --dir .specsweep/postgres

What `start` does, each step only when needed:
  1. find the server binaries (/usr/lib/postgresql/<version>/bin, newest first, or initdb on PATH);
     when there are none and we are root on Debian: `apt-get update` then `apt-get install postgresql`;
  2. `initdb` a cluster in `<dir>/data` whose superuser `specsweep` has a random password (written to
     `<dir>/password`, mode 0600) and which accepts only password (scram-sha-256) logins;
  3. start it listening on `--host` (127.0.0.1) and `--port` only, TCP only (no Unix socket);
  4. create the database `specsweep`.
PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user (created
by the Debian package) via `runuser`, and `<dir>` belongs to that user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.errors import UserError

DEFAULT_DIR = ".specsweep/postgres"
DEFAULT_PORT = 5433  # not 5432, so a system-wide PostgreSQL keeps its port
SERVER_USER = "postgres"  # the OS user the server runs as when we are root
STATE_FILE = "specsweep-postgres.json"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PostgresServer:
    """A cluster under `root`: `root/data` (PGDATA), `root/password`, `root/postgres.log`."""

    root: str
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    user: str = "specsweep"
    database: str = "specsweep"

    @property
    def data_dir(self) -> Path:
        return Path(self.root) / "data"

    @property
    def password_file(self) -> Path:
        return Path(self.root) / "password"

    @property
    def log_file(self) -> Path:
        return Path(self.root) / "postgres.log"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, *, with_password: bool = False, database: str | None = None) -> str:
        """The SQLAlchemy/Optuna URL. Without the password unless asked (libpq reads PGPASSWORD)."""
        auth = f"{self.user}:{self.password()}" if with_password else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{database or self.database}"


# --- binaries ------------------------------------------------------------------------------------


def find_bindir() -> Path | None:
    """The directory holding initdb / pg_ctl / postgres, newest Debian version first; None if absent."""
    override = os.environ.get("SPECSWEEP_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.parent.name)],
        reverse=True,
    )
    if candidates:
        return candidates[0].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def ensure_installed() -> Path:
    """The server binaries' directory, installing Debian's `postgresql` package first if needed."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise UserError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install them (Debian/Ubuntu: "
            "`sudo apt-get install postgresql`) or set SPECSWEEP_PG_BINDIR to their directory"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("runner.servers.postgres: installing PostgreSQL (apt-get)", file=sys.stderr, flush=True)
    for cmd in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"],
    ):
        # apt's chatter goes to stderr so stdout stays for the URL callers may capture.
        if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
            raise UserError(f"`{' '.join(cmd)}` failed; install PostgreSQL by hand and retry")
    bindir = find_bindir()
    if bindir is None:
        raise UserError(
            "apt-get installed postgresql but initdb is still missing; check the install"
        )
    return bindir


# --- running server commands as the right OS user ------------------------------------------------


def _as_server_user(cmd: list[str]) -> list[str]:
    """`cmd` run as the postgres system user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", SERVER_USER, "--", *cmd]


def _run(cmd: list[str], what: str, log: Path | None = None) -> str:
    result = subprocess.run(_as_server_user(cmd), capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-2000:]
        hint = f"; server log: {log}" if log else ""
        raise UserError(f"PostgreSQL {what} failed (exit {result.returncode}): {tail}{hint}")
    return result.stdout


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _check_reachable_by_server_user(root: Path) -> None:
    """As root, every parent of `root` must be searchable by the postgres user."""
    if os.geteuid() != 0:
        return
    probe = subprocess.run(_as_server_user(["test", "-x", str(root.parent)]), capture_output=True)
    if probe.returncode != 0:
        raise UserError(
            f"{root}: the PostgreSQL server runs as the '{SERVER_USER}' user, which cannot reach "
            f"{root.parent}; pick a directory it can traverse (e.g. under /tmp or /var/lib) or "
            f"`chmod o+x` the parents"
        )


# --- lifecycle -----------------------------------------------------------------------------------


def is_running(server: PostgresServer) -> bool:
    bindir = find_bindir()
    if bindir is None or not (server.data_dir / "PG_VERSION").exists():
        return False
    status = subprocess.run(
        _as_server_user([str(bindir / "pg_ctl"), "-D", str(server.data_dir), "status"]),
        capture_output=True,
    )
    return status.returncode == 0


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def init(server: PostgresServer, bindir: Path) -> None:
    """`initdb` a password-only cluster in server.data_dir with a fresh random password."""
    root = Path(server.root)
    root.mkdir(parents=True, exist_ok=True)
    _check_reachable_by_server_user(root)
    root.chmod(0o700)
    _give_to_server_user(root)
    shutil.rmtree(server.data_dir, ignore_errors=True)  # a half-done initdb from an earlier try
    password = secrets.token_urlsafe(18)
    server.password_file.write_text(password + "\n")
    server.password_file.chmod(0o600)
    # initdb reads the superuser's password from a file the server user can read; removed at once.
    pwfile = root / ".initdb-pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _give_to_server_user(pwfile)
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(server.data_dir),
                "-U",
                server.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            "initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)


def start(
    root: str | Path = DEFAULT_DIR,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    database: str = "specsweep",
) -> PostgresServer:
    """Install (if needed), initdb (if needed), start (if not running) and create the database.

    Starting a cluster that already exists keeps its password and data; the port and host given
    now win (they are written to <root>/specsweep-postgres.json for `stop` and `url`).
    """
    bindir = ensure_installed()
    root = Path(root).resolve()
    server = PostgresServer(root=str(root), port=port, host=host, database=database)
    if not (server.data_dir / "PG_VERSION").exists():
        ours = {"password", "data", "postgres.log", ".initdb-pw", STATE_FILE}
        if root.exists() and any(p.name not in ours for p in root.iterdir()):
            raise UserError(
                f"{root}: exists and is not a specsweep PostgreSQL directory (no data/PG_VERSION); "
                "give an empty or new --dir"
            )
        init(server, bindir)
    if is_running(server):
        server = load(root)  # already up: its own port
    else:
        if not port_is_free(host, port):
            raise UserError(
                f"port {host}:{port} is already in use; pick another with --port (e.g. {free_port(host)})"
            )
        options = f"-c listen_addresses={host} -c port={port} -c unix_socket_directories=''"
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(server.data_dir),
                "-l",
                str(server.log_file),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
                "start",
            ],
            "start",
            log=server.log_file,
        )
        (root / STATE_FILE).write_text(json.dumps(asdict(server), indent=2) + "\n")
    create_database(server)
    return server


def create_database(server: PostgresServer) -> None:
    """CREATE DATABASE server.database unless it exists (connecting as the superuser over TCP)."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise UserError(
            "the PostgreSQL driver psycopg is missing; install it with `pip install -e '.[postgres]'`"
        ) from None
    # autocommit: CREATE DATABASE cannot run inside a transaction.
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password(),
        dbname="postgres",
        connect_timeout=10,
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (server.database,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(server.database)))


def load(root: str | Path = DEFAULT_DIR) -> PostgresServer:
    """The server last started under `root` (its port, host, user, database)."""
    state = Path(root).resolve() / STATE_FILE
    if not state.exists():
        raise UserError(
            f"{Path(root).resolve()}: no PostgreSQL started here; run "
            f"`python -m runner.servers.postgres start --dir {root}` first"
        )
    return PostgresServer(**json.loads(state.read_text()))


def stop(root: str | Path = DEFAULT_DIR) -> None:
    """Stop the server under `root` (fast shutdown: open sessions are rolled back)."""
    server = load(root)
    if not is_running(server):
        return
    bindir = ensure_installed()
    _run(
        [str(bindir / "pg_ctl"), "-D", str(server.data_dir), "-m", "fast", "-w", "stop"],
        "stop",
        log=server.log_file,
    )


@contextlib.contextmanager
def temporary_server(port: int | None = None) -> Iterator[PostgresServer]:
    """A fresh server in a temporary directory, stopped and deleted on exit (the tests' fixture)."""
    # Under the system temp dir, not pytest's tmp_path: that one is private to root (0700), and
    # the server runs as the postgres user.
    root = Path(tempfile.mkdtemp(prefix="specsweep-pg-"))
    root.chmod(0o711)  # mkdtemp's 0700 would keep the postgres user out
    try:
        server = start(root / "pg", port=port or free_port())
        try:
            yield server
        finally:
            stop(server.root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runner.servers.postgres",
        description="A private PostgreSQL server for specsweep's Optuna queue.",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (
        ("start", "install if needed, initdb if needed, start, create the database"),
        ("stop", "stop the server"),
        ("url", "print the storage URL (without the password; libpq reads PGPASSWORD)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--dir", default=DEFAULT_DIR, help=f"cluster directory (default {DEFAULT_DIR})"
        )
        if name == "start":
            p.add_argument("--port", type=int, default=DEFAULT_PORT)
            p.add_argument("--host", default="127.0.0.1", help="listen address (default loopback)")
            p.add_argument("--database", default="specsweep")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            server = start(args.dir, port=args.port, host=args.host, database=args.database)
            print(
                f"PostgreSQL running on {server.host}:{server.port} (log {server.log_file}).\n"
                f'  export PGPASSWORD="$(cat {server.password_file})"\n'
                f"  export SPECSWEEP_STORAGE={server.url()}",
                file=sys.stderr,
            )
            print(server.url())
        elif args.action == "stop":
            stop(args.dir)
            print(f"PostgreSQL under {Path(args.dir).resolve()} stopped", file=sys.stderr)
        else:
            print(load(args.dir).url())
    except UserError as err:
        print(f"runner.servers.postgres: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
