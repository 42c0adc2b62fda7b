"""Sweeps run as real processes by the end-to-end tests: start one with its output captured,
then wait for it and read what it printed (stdout and stderr together, as a user sees them)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def start_process(args: Sequence[str], cwd: Path, env: Mapping[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout_s: float) -> tuple[int, str]:
    """Wait for `proc` (at most timeout_s) and return its exit code and its output."""
    out, _ = proc.communicate(timeout=timeout_s)
    return proc.returncode, out
