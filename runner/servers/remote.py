"""Shared servers: where the storage and tracking URLs come from, and checking them up front.

A sweep on several machines needs two URLs, the same on every machine:

    storage   the Optuna queue:  postgresql://user@db-host:5432/specsweep   (Optuna RDB storage)
    tracking  MLflow:            http://mlflow-host:5000                     (an MLflow server)

Each is taken from, first match wins: the command line (`--storage`, `--tracking-uri`), the
environment (`SPECSWEEP_STORAGE`, `SPECSWEEP_TRACKING_URI`), the sweep file (`storage.url`,
`tracking.uri`), the default (a journal file; `sqlite:///mlflow.db`). `${NAME}` in a URL is
replaced by that environment variable, so a sweep file can name a host without holding a secret.
Passwords are best left out of URLs altogether: libpq reads `PGPASSWORD` / `~/.pgpass`, MLflow
reads `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`.

`check_storage` and `check_tracking` connect once with a short timeout before any work starts and
turn a wrong password, a missing database or an unreachable server into a `UserError` (exit 2) that
names the URL with its password masked and says what to do. Without them a typo in a password
surfaces as a driver traceback, and an unreachable MLflow server as minutes of silent HTTP retries.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from runner.errors import UserError
from runner.servers.secrets import mask_text, mask_url, url_password

STORAGE_ENV = "SPECSWEEP_STORAGE"
TRACKING_ENV = "SPECSWEEP_TRACKING_URI"
CONNECT_TIMEOUT_S = 5

# SQLAlchemy dialects a storage (or an MLflow backend) URL may use: `postgresql`, `postgresql+psycopg2`...
DATABASE_SCHEMES = ("postgresql", "postgres", "mysql", "mssql", "oracle")


# --- where the URLs come from --------------------------------------------------------------------


def expand_env(url: str, where: str, environ: Mapping[str, str] | None = None) -> str:
    """`${NAME}` replaced by the environment variable NAME; an unset one is a UserError."""
    environ = os.environ if environ is None else environ

    def value(match: re.Match) -> str:
        name = match[1]
        if name not in environ:
            raise UserError(
                f"{where}: ${{{name}}} is not set in the environment; export {name}=... "
                "or write the value into the URL"
            )
        return environ[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value, url)


def resolve_storage_url(
    cli: str | None, file_url: str | None, source: str = "<sweep>", environ=None
) -> str | None:
    """The Optuna storage URL: --storage, else $SPECSWEEP_STORAGE, else the file's storage.url.

    None means the local default (a JournalStorage file, chosen by runner.queue.study).
    """
    environ = os.environ if environ is None else environ
    for url, where in (
        (cli, "--storage"),
        (environ.get(STORAGE_ENV), STORAGE_ENV),
        (file_url, f"{source}: storage.url"),
    ):
        if url:
            return expand_env(url, where, environ)
    return None


def resolve_tracking_uri(
    cli: str | None,
    file_uri: str,
    file_sets_uri: bool = True,
    source: str = "<sweep>",
    environ=None,
) -> str:
    """The MLflow tracking URI: --tracking-uri, else $SPECSWEEP_TRACKING_URI, else the file's.

    `file_sets_uri` is False when the sweep file left `tracking.uri` at its default: then the
    environment variable wins over that default; a URI written in the file is overridden only by
    the command line and the environment.
    """
    environ = os.environ if environ is None else environ
    for uri, where in (
        (cli, "--tracking-uri"),
        (environ.get(TRACKING_ENV), TRACKING_ENV),
    ):
        if uri:
            return expand_env(uri, where, environ)
    where = f"{source}: tracking.uri" if file_sets_uri else "tracking.uri"
    return expand_env(file_uri, where, environ)


def resolve_sweep_urls(sweep, storage: str | None = None, tracking_uri: str | None = None):
    """(storage URL or None, tracking URI) for a loaded SweepConfig and the CLI's two flags."""
    raw_tracking = sweep.raw.get("tracking") if isinstance(sweep.raw, dict) else None
    file_sets_uri = isinstance(raw_tracking, dict) and "uri" in raw_tracking
    return (
        resolve_storage_url(storage, sweep.storage.url, sweep.source),
        resolve_tracking_uri(tracking_uri, sweep.tracking.uri, file_sets_uri, sweep.source),
    )


def tracking_credentials_to_env(uri: str, environ: dict | None = None) -> str:
    """`uri` without `user:password@`, the two moved to MLFLOW_TRACKING_USERNAME / _PASSWORD.

    MLflow prints the tracking URI as it was given ("View run ... at: http://ana:pw@host/...")
    whenever a run ends, so a password left in the URI would land in every trial's log. MLflow
    sends the same basic-auth credentials from these variables, which the trial processes
    inherit. `environ` (default os.environ) is updated in place.
    """
    environ = os.environ if environ is None else environ
    parts = urlsplit(uri)
    if scheme_of(uri) not in ("http", "https") or parts.password is None:
        return uri
    environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username or "")
    environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
    return uri.replace(parts.netloc, parts.netloc.rpartition("@")[2], 1)


# --- checking them -------------------------------------------------------------------------------


def check_url_syntax(url: str, what: str) -> None:
    """Refuse a URL whose password holds a raw '@', ':' or '/': drivers would split it elsewhere.

    Cut at the wrong '@', the rest of the password becomes the "host" and would be echoed in the
    driver's error message; so this is checked before any connection is tried.
    """
    netloc = urlsplit(url).netloc
    userinfo = netloc.rpartition("@")[0]
    if "@" in userinfo or userinfo.count(":") > 1:
        user = userinfo.split(":", 1)[0]
        raise UserError(
            f"{what}: the password of user '{user}' contains '@' or ':' that is not percent-encoded;"
            " write '@' as %40 and ':' as %3A, or leave the password out of the URL and set "
            "PGPASSWORD"
        )


def scheme_of(url: str) -> str:
    """'postgresql' for 'postgresql+psycopg2://...', 'http', 'sqlite', '' for a bare path."""
    return urlsplit(url).scheme.split("+", 1)[0].lower()


def is_database_url(url: str) -> bool:
    return scheme_of(url) in DATABASE_SCHEMES


TRACKING_SCHEMES = ("", "file", "sqlite", "http", "https", "databricks", *DATABASE_SCHEMES)


def check_tracking_scheme(uri: str, where: str = "tracking URI") -> None:
    """Refuse a tracking URI whose scheme MLflow has no store for (`gopher://...`), naming
    `where` it came from, before anything asks MLflow for a store."""
    scheme = scheme_of(uri)
    if len(scheme) == 1:  # a Windows drive letter, C:\\...: a path
        return
    if scheme not in TRACKING_SCHEMES:
        raise UserError(
            f"{where}: {mask_url(uri)!r}: MLflow has no tracking store for '{scheme}://'; use "
            "sqlite:///mlflow.db (a local file), http(s)://host:port (an MLflow server), a "
            "folder path, or postgresql://user:pass@host/db"
        )


def engine_kwargs(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> dict:
    """SQLAlchemy engine options for a shared database: fail fast, survive dropped connections.

    Meant for `optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))`: without a connect
    timeout an unreachable host hangs for the OS's TCP timeout (minutes); `pool_pre_ping` replaces a
    pooled connection the server closed (a restart, an idle timeout) instead of failing a trial.
    """
    kwargs: dict = {"pool_pre_ping": True}
    if scheme_of(url) in ("postgresql", "postgres", "mysql"):
        kwargs["connect_args"] = {"connect_timeout": max(1, round(timeout_s))}
    return kwargs


# Key of the PostgreSQL advisory lock held while Optuna creates its tables (any fixed 64-bit value
# that no other application on the database uses: "specswep" in ASCII).
SCHEMA_LOCK_KEY = int.from_bytes(b"specswep", "big")


def open_rdb_storage(url: str, timeout_s: float = CONNECT_TIMEOUT_S):
    """`optuna.storages.RDBStorage(url)` with `engine_kwargs(url)`, safe to call from many
    processes at once on a fresh database.

    RDBStorage creates its tables and enum types on first use; two supervisors starting together
    on an empty PostgreSQL database both try, and one fails with `duplicate key value violates
    unique constraint "pg_type_typname_nsp_index"` (CREATE TYPE has no IF NOT EXISTS). A
    session-level advisory lock lets one process create the schema while the others wait.
    """
    import optuna
    import sqlalchemy

    kwargs = engine_kwargs(url, timeout_s)
    if scheme_of(url) not in ("postgresql", "postgres"):
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    lock_engine = sqlalchemy.create_engine(url, **kwargs)
    try:
        with lock_engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            finally:
                conn.execute(
                    sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEMA_LOCK_KEY}
                )
                conn.commit()
    finally:
        lock_engine.dispose()


def _database_problem(detail: str) -> str:
    """The driver's message -> what went wrong and what to do, in the user's words."""
    text = detail.lower()
    if "password authentication failed" in text or "access denied" in text:
        return (
            "wrong user name or password; check the user in the URL and the password "
            "(in the URL, PGPASSWORD or ~/.pgpass)"
        )
    if "no password supplied" in text:
        return "the server wants a password; set PGPASSWORD (or ~/.pgpass) or put it in the URL"
    if "database" in text and "does not exist" in text:
        return (
            "the database does not exist; create it (createdb) or fix the database name in the URL"
        )
    if "role" in text and "does not exist" in text:
        return "the user does not exist on that server; fix the user name in the URL"
    if any(
        s in text
        for s in (
            "connection refused",
            "timeout expired",
            "timed out",
            "could not translate host name",
            "name or service not known",
            "no route to host",
            "network is unreachable",
            "can't connect",
        )
    ):
        return (
            "the database server is unreachable; check the host and port, that the server is "
            "running (python -m runner.servers.postgres start) and that a firewall lets you through"
        )
    if "invalid response" in text or "unexpected response" in text:
        return "whatever listens at that host and port is not PostgreSQL; check the port"
    return "the database refused the connection; see the driver's message"


def check_database(url: str, what: str = "storage", timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Connect once and run `SELECT 1`; any failure is a UserError with the password masked."""
    import sqlalchemy
    from sqlalchemy import exc

    check_url_syntax(url, what)
    password = url_password(url)
    shown = mask_url(url)
    try:
        engine = sqlalchemy.create_engine(url, **engine_kwargs(url, timeout_s))
    except exc.NoSuchModuleError:
        raise UserError(
            f"{what} {shown}: no SQLAlchemy dialect for '{urlsplit(url).scheme}'; use "
            "postgresql://user@host:port/database"
        ) from None
    except exc.ArgumentError as err:
        raise UserError(
            f"{what} {shown}: not a database URL ({mask_text(str(err), [password])})"
        ) from None
    except ImportError as err:
        raise UserError(
            f"{what} {shown}: the database driver is missing ({err.name}); install it with "
            "`pip install -e '.[postgres]'`"
        ) from None
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except exc.DBAPIError as err:
        detail = str(getattr(err, "orig", None) or err).strip().splitlines()
        detail = " ".join(line.strip() for line in detail if line.strip())
        raise UserError(
            f"{what} {shown}: cannot connect: {_database_problem(detail)} "
            f"(driver: {mask_text(detail, [password])})"
        ) from None
    finally:
        engine.dispose()


def _auth_header(uri: str, environ: Mapping[str, str]) -> str | None:
    """The Authorization header MLflow would send: userinfo in the URI, else MLFLOW_TRACKING_*."""
    parts = urlsplit(uri)
    user = unquote(parts.username) if parts.username else environ.get("MLFLOW_TRACKING_USERNAME")
    password = (
        unquote(parts.password) if parts.password else environ.get("MLFLOW_TRACKING_PASSWORD")
    )
    if user and password is not None:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    token = environ.get("MLFLOW_TRACKING_TOKEN")
    return f"Bearer {token}" if token else None


def check_tracking(uri: str, timeout_s: float = CONNECT_TIMEOUT_S, environ=None) -> None:
    """Ask an MLflow tracking server for one experiment; any failure is a UserError (masked).

    Local stores (sqlite:///..., file paths) need no check; a database URI is checked like the
    storage. Only http(s) servers get the HTTP probe.
    """
    environ = os.environ if environ is None else environ
    check_tracking_scheme(uri)
    scheme = scheme_of(uri)
    if is_database_url(uri):
        check_database(uri, "tracking URI", timeout_s)
        return
    if scheme not in ("http", "https"):
        return
    check_url_syntax(uri, "tracking URI")
    shown = mask_url(uri)
    password = url_password(uri)
    parts = urlsplit(uri)
    # Credentials go in a header, not the URL: urllib does not read userinfo.
    netloc = parts.netloc.rpartition("@")[2]
    base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/experiments/search?max_results=1")
    header = _auth_header(uri, environ)
    if header:
        request.add_header("Authorization", header)
    fix_unreachable = (
        "check the host and port, and that the server is running (specsweep server --port ...)"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise UserError(
                f"tracking URI {shown}: the server refused the credentials (HTTP {err.code}); "
                "check MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or the user in the URI"
            ) from None
        raise UserError(
            f"tracking URI {shown}: HTTP {err.code} from the MLflow API; is this an MLflow "
            "tracking server (and the right path)?"
        ) from None
    except OSError as err:  # URLError, refused, reset, timed out
        reason = getattr(err, "reason", err)
        raise UserError(
            f"tracking URI {shown}: the MLflow server is unreachable "
            f"({mask_text(str(reason), [password])}); {fix_unreachable}"
        ) from None
    try:
        json.loads(body or b"{}")
    except ValueError:
        raise UserError(
            f"tracking URI {shown}: the answer is not MLflow's JSON API; is this an MLflow "
            "tracking server (and the right path)?"
        ) from None


def check_storage(url: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Check an Optuna storage URL before the sweep starts; None (the journal file) needs none."""
    if url is None:
        return
    if is_database_url(url) or scheme_of(url) == "sqlite":
        check_database(url, "storage", timeout_s)
