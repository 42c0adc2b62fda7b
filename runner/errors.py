"""Errors that are the user's to fix: the CLI prints them as one paragraph and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (a sweep file, a dataset, a URL): no traceback, exit code 2.

    The message says what was wrong, where (file, key, row) and what to do.
    """

    exit_code = 2


class ConfigError(UserError):
    """A sweep file that does not parse or does not validate."""


class DiskFull(OSError):
    """A write failed because the file system at `path` is full: nothing is wrong with the trial,
    so a sweep stops, does not count it against the point's retries, and resumes when run again."""

    def __init__(self, path: str):
        super().__init__(28, "No space left on device", path)  # errno.ENOSPC
        self.path = path

    def __str__(self) -> str:
        return disk_full_message(self.path)


def disk_full_message(path: str) -> str:
    """The one line a full disk is reported with, everywhere."""
    return f"disk full at {path}: free space and run the same command again"


def disk_full_path(err: BaseException, default: str = "?") -> str | None:
    """Where the disk filled up, when `err` (or what caused it) is a full disk; else None.

    Knows `DiskFull`, an `OSError` with errno ENOSPC (its file, or `default`), and SQLite's
    "database or disk is full" (`default`: the caller knows which database it was writing).
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, DiskFull):
            return err.path
        if isinstance(err, OSError) and err.errno == 28:
            return str(err.filename) if err.filename else default
        if "database or disk is full" in str(err) or "No space left on device" in str(err):
            return default
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return None
