"""Passwords in storage and tracking URLs: never printed, never logged.

A PostgreSQL storage URL (`postgresql://user:PASSWORD@host:5432/db`) or a tracking URI with basic
auth (`https://user:PASSWORD@mlflow.lab:443`) carries a secret. Everything specsweep prints, logs
to MLflow (params, tags) or puts in an error message goes through `mask_url` (one URL) or
`mask_text` (free text, e.g. a driver's error message that quotes the URL):

    mask_url("postgresql://ana:s3cret@db:5432/sweeps")     -> "postgresql://ana:***@db:5432/sweeps"
    mask_url("postgresql://db/sweeps?password=s3cret")     -> "postgresql://db/sweeps?password=***"
    mask_text("could not connect: ana:s3cret@db", secrets=["s3cret"])  -> "... ana:***@db"

Credentials may instead come from the environment, which keeps them out of sweep files and shell
history: libpq reads `PGPASSWORD` (or `~/.pgpass`) when the URL has no password, and MLflow reads
`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`. `env_secrets()` lists the values of those
variables so that `mask_text` hides them too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlsplit

MASK = "***"

# Query parameters that carry a secret in libpq / SQLAlchemy / HTTP URLs.
SECRET_QUERY_KEYS = frozenset(
    {"password", "pass", "pwd", "passwd", "token", "secret", "sslpassword"}
)

# Environment variables whose values are secrets and must never appear in output.
SECRET_ENV_VARS = ("PGPASSWORD", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")

# `scheme://user:password@` anywhere in free text (a URL quoted inside an error message).
_USERINFO_RE = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]*)@")
# `password=...` in a libpq keyword/value string or a query string.
_KEYWORD_RE = re.compile(
    r"(?P<head>\b(?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")\s*=\s*)(?P<pw>'[^']*'|[^\s&;]+)",
    re.IGNORECASE,
)


def url_password(url: str) -> str | None:
    """The password in `url` (userinfo or a `password=` query parameter), decoded; None if none."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. a port that is not a number: not a URL we can read
        return None
    if password:
        return unquote(password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key.lower() in SECRET_QUERY_KEYS and value:
            return value
    return None


def mask_url(url: str | None) -> str | None:
    """`url` with its password (userinfo and secret query parameters) replaced by `***`.

    Everything else (scheme, user, host, port, database, other parameters) is kept so the user can
    still see which server and which account a message is about. A string that is not a URL is
    passed through `mask_text`, which hides anything shaped like a password.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return mask_text(url)
    masked = url
    # Edit the original string rather than urlunsplit(), which rewrites e.g. sqlite:///x as sqlite:/x.
    if has_password:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        masked = masked.replace(parts.netloc, f"{user}:{MASK}@{hostport}", 1)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        query = "&".join(
            f"{quote(k, safe='')}={MASK if k.lower() in SECRET_QUERY_KEYS else quote(v, safe='')}"
            for k, v in pairs
        )
        masked = masked.replace(f"?{parts.query}", f"?{query}", 1)
    return masked


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the secret environment variables that are set (PGPASSWORD, ...)."""
    environ = os.environ if environ is None else environ
    return [environ[name] for name in SECRET_ENV_VARS if environ.get(name)]


def mask_text(text: str, secrets: Iterable[str | None] = (), *, environ=None) -> str:
    """Free text with every password hidden.

    Hides (1) the given `secrets` verbatim and URL-encoded (e.g. the password of the URL the text is
    about), (2) the secret environment variables' values, (3) the password part of any
    `scheme://user:password@` and any `password=...` in the text.
    """
    values = {s for s in secrets if s} | set(env_secrets(environ))
    # Longest first, so a password that contains another one is hidden whole.
    for value in sorted(values, key=len, reverse=True):
        for form in {value, quote(value, safe="")}:
            text = text.replace(form, MASK)
    text = _USERINFO_RE.sub(lambda m: m["head"] + MASK + "@", text)
    return _KEYWORD_RE.sub(lambda m: m["head"] + MASK, text)
