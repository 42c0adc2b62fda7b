"""The sweep's Optuna storage, and the lock that makes a change of its queue atomic.

    store = open_store(sweep.storage.url, sweep.name)   # JournalStorage file by default
    with store.lock(sweep.name):                        # every supervisor, every machine
        ...                                             # read the study, then enqueue

Why a lock around every change of the queue (`runner.queue.study`): "is this point already in
the study? if not, enqueue it" is a read followed by a write, and two supervisors starting
together would both enqueue it (Optuna's own `enqueue_trial(skip_if_exists=True)` documents the
same race). The lock is a file lock beside the journal (`runner.locks.file_lock`: the kernel
releases it when its holder dies), a PostgreSQL advisory lock for a PostgreSQL storage (every
machine), or a file lock under `.specsweep/studies/` for another database (this machine only).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend

from runner.errors import UserError
from runner.locks import file_lock
from runner.queue.journal import damaged_journal, mend_tail
from runner.servers.remote import check_storage, open_rdb_storage
from runner.servers.secrets import mask_text, mask_url, url_password

DEFAULT_STUDY_DIR = Path(".specsweep/studies")


@dataclass(frozen=True)
class Store:
    """An Optuna storage plus the lock that makes queue changes atomic across supervisors.

    `url` is what a child process passes to `open_store` to reach the same storage:
    `journal:/abs/path.journal` for the default journal file, else the database URL.
    """

    url: str
    storage: BaseStorage = field(repr=False)
    lock_path: Path | None = None  # file lock (journal, or a database without advisory locks)
    journal: Path | None = None  # the journal file, for the default storage
    notice: str | None = None  # what opening it mended (a torn journal tail), for the user

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the queue lock of study `name` (blocking)."""
        if self.lock_path is not None:
            with file_lock(self.lock_path):
                yield
        else:
            with _pg_advisory_lock(self.storage, name):
                yield


def open_store(url: str | None, sweep_name: str) -> Store:
    """Open the Optuna storage of a sweep.

    url: None -> `JournalStorage` on `.specsweep/studies/<sweep>.journal` (relative to the working
    directory); `journal:PATH` -> a journal file at PATH; `postgresql://...` / `mysql://...` -> an
    RDB storage. SQLite is refused: Optuna's SQLite storage is not safe for parallel workers.
    """
    if url is None or url.startswith("journal:"):
        path = DEFAULT_STUDY_DIR / f"{sweep_name}.journal" if url is None else Path(url[8:])
        path = path.expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = mend_tail(path)
        notice = (
            f"{path}: its last line was torn (a write cut short) and is cut off, kept in {aside}"
            if aside
            else None
        )
        try:
            storage = JournalStorage(JournalFileBackend(str(path)))
        except ValueError as err:  # a bad line inside (JSONDecodeError is a ValueError)
            raise damaged_journal(path, err) from None
        lock = path.with_name(path.name + ".queue.lock")
        return Store(f"journal:{path}", storage, lock, journal=path, notice=notice)
    if url.startswith("sqlite"):
        raise UserError(
            f"storage.url: {mask_url(url)!r}: SQLite is not safe for parallel Optuna workers (docs/design.md, "
            "decision 6); leave storage.url unset for the journal file under .specsweep/studies/, "
            "or use postgresql://user:pass@host/db for several machines"
        )
    if not url.startswith(("postgresql", "mysql")):
        raise UserError(
            f"storage.url: {mask_url(url)!r} is not a storage URL specsweep knows; use journal:PATH, "
            "postgresql://user:pass@host/db, or leave it unset for the default journal file"
        )
    # Connect once first: a wrong password or a dead server is a one-line UserError (password
    # masked) within seconds, not a driver traceback after the OS's TCP timeout.
    check_storage(url)
    try:
        storage = open_rdb_storage(url)  # tables created under a lock: supervisors start together
    except Exception as err:
        raise UserError(
            f"storage.url: cannot open {mask_url(url)!r} ({mask_text(str(err), [url_password(url)])});"
            " check the URL and that the server is up"
        ) from None
    # PostgreSQL has advisory locks; other databases fall back to a lock file, which guards the
    # supervisors of this machine only.
    lock_path = None
    if not url.startswith("postgresql"):
        DEFAULT_STUDY_DIR.mkdir(parents=True, exist_ok=True)
        lock_path = (DEFAULT_STUDY_DIR / f"{sweep_name}.queue.lock").resolve()
    return Store(url, storage, lock_path)


@contextlib.contextmanager
def _pg_advisory_lock(storage: BaseStorage, name: str) -> Iterator[None]:
    import sqlalchemy

    key = int.from_bytes(
        hashlib.sha256(f"specsweep:{name}".encode()).digest()[:8], "big", signed=True
    )
    engine = storage.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
