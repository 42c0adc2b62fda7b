"""One cross-process file lock for every place that needs one.

    with file_lock(cache_dir / f"{key}.lock"):   # blocks while another process holds it
        ...

It is an `fcntl.flock` on the named file (created if missing, never deleted: deleting a lock file
another process waits on would let a third take a second lock). The kernel releases it when the
holder dies, so a SIGKILLed supervisor or trial never leaves anything locked. The queue, the
MLflow SQLite store's first contact, the audio cache and the synthetic dataset all use this.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` for the `with` block (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
