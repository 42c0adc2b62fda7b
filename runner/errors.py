"""Errors that are the user's to fix: the CLI prints them as one paragraph and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a sweep file, a dataset, a URL): no traceback, exit code 2.

    The message says what was wrong, where (file, key, row) and what to do.
    """

    exit_code = 2


class ConfigError(UserError):
    """A sweep file that does not parse or does not validate."""
