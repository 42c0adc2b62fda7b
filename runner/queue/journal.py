"""The Optuna journal file: a torn last line mended before the queue reads it, other damage named.

    aside = mend_tail(path)          # None, or where the cut-off tail was kept
    raise damaged_journal(path, err) # the one-line error for damage inside the file

Optuna's `JournalFileBackend` appends one JSON line per operation. A writer killed mid-line (or a
full disk) leaves a last line without its newline, or one that is not JSON. Optuna itself skips
such a last line when reading, but the next append lands after it and the file then holds a bad
line *inside*, which makes every later read raise. `mend_tail`, called under Optuna's own journal
lock before the study is opened, cuts such a tail off (it records an operation that never
completed) and keeps the cut bytes beside the journal. A bad line followed by good ones cannot be
dropped safely (it may hold a whole operation glued to a torn one); `damaged_journal` says which
file and what to do: move it aside and run the same command again. Finished trials are then
adopted from their FINISHED MLflow runs (runner.queue.worker.adopt_finished_run), not trained again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from optuna.storages.journal import JournalFileSymlinkLock

from runner.errors import UserError

TAIL_BYTES = 1 << 20  # a journal line is a few hundred bytes; read at most this much of the end


def mend_tail(path: Path) -> Path | None:
    """Cut a torn or garbage tail off the journal at `path` (under Optuna's journal lock); the
    cut bytes go to `<journal>.torn-<time>`, whose path is returned (None: nothing to mend)."""
    if not path.is_file() or path.stat().st_size == 0:
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(size - TAIL_BYTES, 0)
            f.seek(start)
            tail = f.read()
            keep = _good_length(tail, whole_file=start == 0)
            if keep == len(tail):
                return None
            aside = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
            aside.write_bytes(tail[keep:])
            f.truncate(start + keep)
            f.flush()
            os.fsync(f.fileno())
        return aside
    finally:
        lock.release()


def _good_length(tail: bytes, *, whole_file: bool) -> int:
    """How many bytes of `tail` to keep: up to the end of its last line that is whole JSON."""
    end = len(tail)
    while end > 0:
        cut = tail.rfind(b"\n", 0, end - 1) + 1  # start of the last line in tail[:end]
        if cut == 0 and not whole_file:
            return end  # the line starts before what was read: leave it to Optuna
        line = tail[cut:end]
        if line.endswith(b"\n") and _is_json(line):
            return end
        end = cut
    return 0


def _is_json(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return False
    return True


def damaged_journal(path: Path, err: BaseException) -> UserError:
    """The error for a journal Optuna cannot read (a bad line inside it)."""
    return UserError(
        f"{path}: the Optuna journal is damaged inside ({type(err).__name__}: "
        f"{str(err).splitlines()[0] if str(err) else 'unreadable'}); move it aside "
        f"(mv {path} {path}.damaged) and run the same command again: trials with a FINISHED "
        "MLflow run are adopted, the others run again"
    )
