"""A lease: who runs an attempt, and when they last said so.

A RUNNING attempt carries one as its user attr `lease` (`Lease.to_attr`), renewed by the
supervisor that runs it every `storage.heartbeat_s`. The reaper (runner.queue.study) asks each
lease whether it still holds (`stale_reason`): not when it is older than `storage.lease_timeout_s`,
nor when its owner is a process on this host that no longer exists.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lease:
    """Who runs an attempt, and when they last said so (`t`: seconds since the epoch)."""

    host: str
    pid: int
    t: float

    @classmethod
    def mine(cls) -> Lease:
        return cls(socket.gethostname(), os.getpid(), time.time())

    @property
    def owner(self) -> str:
        return f"{self.host}:{self.pid}"

    def to_attr(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "t": self.t}

    @classmethod
    def from_attr(cls, attr: Any) -> Lease | None:
        if not isinstance(attr, dict):
            return None
        return cls(str(attr.get("host")), int(attr.get("pid", -1)), float(attr.get("t", 0.0)))

    def stale_reason(self, now: float, timeout_s: float) -> str | None:
        """Why this lease no longer holds, or None while it does."""
        if (
            self.host == socket.gethostname()
            and self.pid != os.getpid()
            and not pid_alive(self.pid)
        ):
            return f"owner {self.owner} is gone"
        if now - self.t > timeout_s:
            return f"lease of {self.owner} expired ({now - self.t:.0f} s without a heartbeat)"
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
