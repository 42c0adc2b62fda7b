"""Server processes the slow multi-node tests start (not a test module): the handle of a running
`specsweep server`, waiting for it to answer, and stopping it."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path


@dataclasses.dataclass
class MlflowServer:
    uri: str
    proc: subprocess.Popen
    log: Path
    artifacts: Path
    backend_password: str


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def stop_process(proc: subprocess.Popen, timeout_s: float = 30) -> int:
    """SIGTERM (a clean shutdown), then SIGKILL the whole group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode
