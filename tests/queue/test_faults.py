"""Faults the same command recovers from, piece by piece (fast; real files, stores and a real
small file system where the machine lets us mount one): a damaged checkpoint is set aside, a torn
journal tail is cut off, damage inside a journal is one line naming it, a full disk is one line
and uses no retry, `--retry-failed` starts a point's retries over, reasons stay one line.

The same faults through whole sweeps (real processes) are in test_faults_e2e.py (slow).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.filesystems import small_filesystem

from runner.errors import DiskFull, UserError, disk_full_path
from runner.queue.store import open_store
from runner.queue.study import ATTR_REASON, ATTR_RETRIED, SweepQueue
from runner.sweep.grid import expand
from runner.sweep.load import sweep_from_dict
from runner.train import checkpoint as ckpt
from runner.train.outcome import MAX_REASON_CHARS, failure_reason

GRID = {"axes": {"frontend.win_length": [256, 512], "frontend.hop_length": [64, 128]}}


def open_queue(tmp_path: Path, max_retries: int = 1) -> SweepQueue:
    sweep = sweep_from_dict(
        {"name": "q", "grid": GRID, "search": {"max_retries": max_retries}}, source="test.yaml"
    )
    store = open_store(f"journal:{tmp_path / 'q.journal'}", sweep.name)
    return SweepQueue.open(sweep, expand(sweep), store)


# --------------------------------------------------------------------------- checkpoints


def test_damaged_checkpoint_is_set_aside_and_named(tmp_path):
    tmp_path = tmp_path / "trial"
    ckpt.save_checkpoint(tmp_path, {"epoch": 1, "w": torch.zeros(1000)})
    last = tmp_path / ckpt.CHECKPOINT_FILE
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a copy cut short
    state, aside = ckpt.load_or_set_aside(tmp_path)
    assert state is None and aside is not None and aside.is_file()
    assert aside.parent == tmp_path.parent and aside.is_absolute() and not last.exists()
    assert aside.name.startswith(f"{tmp_path.name}.damaged-") and aside.suffix == ".pt"
    # The next attempt starts from scratch and saves as usual; a good checkpoint loads.
    ckpt.save_checkpoint(tmp_path, {"epoch": 2})
    state, aside = ckpt.load_or_set_aside(tmp_path)
    assert aside is None and state["epoch"] == 2


def test_full_disk_while_checkpointing_is_diskfull_naming_the_folder(tmp_path):
    with small_filesystem(tmp_path / "small") as small:
        with pytest.raises(DiskFull) as caught:
            ckpt.save_checkpoint(small / "trial", {"w": torch.zeros(1 << 16)})  # 256 KiB
        assert disk_full_path(caught.value) == str(small / "trial")
        assert list((small / "trial").iterdir()) == []  # no temporary file left behind
        status, reason = failure_reason(caught.value)
        assert status == "FAILED"
        assert (
            reason == f"disk full at {small / 'trial'}: free space and run the same command again"
        )


# --------------------------------------------------------------------------- reasons


def test_reasons_are_one_short_line_without_sql():
    sql_error = RuntimeError(
        "(sqlite3.IntegrityError) UNIQUE constraint failed [SQL: INSERT INTO metrics "
        + "(key, value) VALUES (?, ?)" * 200
        + "]\n[parameters: ('a', 1)]"
    )
    _, reason = failure_reason(sql_error)
    assert "\n" not in reason and "SQL" not in reason and "INSERT" not in reason
    assert reason == "error: RuntimeError: (sqlite3.IntegrityError) UNIQUE constraint failed"
    _, long = failure_reason(ValueError("x" * 10_000))
    assert len(long) == MAX_REASON_CHARS and long.endswith("...")
    full = RuntimeError("(sqlite3.OperationalError) database or disk is full\n[SQL: INSERT ...]")
    assert failure_reason(full, "/data/mlflow.db") == (
        "FAILED",
        "disk full at /data/mlflow.db: free space and run the same command again",
    )


# --------------------------------------------------------------------------- the journal


def _journal_with_trials(tmp_path: Path) -> tuple[Path, int]:
    queue = open_queue(tmp_path)
    queue.sync()
    return tmp_path / "q.journal", len(queue.study.get_trials())


@pytest.mark.parametrize(
    "tail",
    [b'{"op_code": 5, "worker_id": "x", "trial_id"', b"\x00\x00garbage\n", b"not json at all\n"],
    ids=["torn-write", "binary-garbage", "text-garbage"],
)
def test_torn_journal_tail_is_cut_off_and_kept_aside(tmp_path, tail):
    journal, n_trials = _journal_with_trials(tmp_path)
    good = journal.read_bytes()
    journal.write_bytes(good + tail)
    queue = open_queue(tmp_path)  # what `specsweep sweep` run again does
    assert queue.store.notice is not None and str(journal) in queue.store.notice
    mended = journal.read_bytes()  # opening the study again appends its own lines
    assert mended.startswith(good) and tail not in mended
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("q.journal.torn-")]
    assert len(kept) == 1 and kept[0].read_bytes() == tail and str(kept[0]) in queue.store.notice
    assert len(queue.study.get_trials()) == n_trials
    taken = queue.take()  # and the queue works on: a write after the mended tail reads back
    assert taken is not None
    assert len(open_queue(tmp_path).study.get_trials()) == n_trials


def test_damage_inside_the_journal_is_one_line_naming_it(tmp_path):
    journal, _ = _journal_with_trials(tmp_path)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:2], b"{garbage\n", *lines[2:]]))
    with pytest.raises(UserError) as caught:
        open_queue(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and str(journal) in message
    assert f"mv {journal} {journal}.damaged" in message and "run the same command again" in message


def test_an_intact_journal_is_left_alone(tmp_path):
    journal, _ = _journal_with_trials(tmp_path)
    before = journal.read_bytes()
    assert open_queue(tmp_path).store.notice is None
    assert journal.read_bytes().startswith(before)


# --------------------------------------------------------------------------- retries


def _fail_everything(queue: SweepQueue, reason: str = "error: RuntimeError: boom") -> int:
    n = 0
    while (taken := queue.take()) is not None:
        queue.fail(taken, reason)
        n += 1
    return n


def test_disk_full_uses_no_retry(tmp_path):
    queue = open_queue(tmp_path, max_retries=0)
    for _ in range(3):  # a full disk, three times over: never failed for good, always queued
        taken = [queue.take() for _ in range(4)]
        assert all(taken) and queue.take() is None
        for t in taken:
            queue.fail(t, "disk full at /x: free space and run the same command again")
        assert queue.counts().failed == 0 and queue.counts().queued == 4


def test_retry_failed_queues_failed_points_with_fresh_retries(tmp_path):
    queue = open_queue(tmp_path, max_retries=1)
    assert _fail_everything(queue) == 8  # 4 points x (1 try + 1 retry)
    assert queue.counts().failed == 4 and not queue.has_work()
    assert open_queue(tmp_path).retry_failed() and queue.counts().queued == 4
    again = [queue.take() for _ in range(4)]
    assert {t.attempt for t in again} == {3} and queue.take() is None
    queue.fail(again[0], "error: RuntimeError: boom")  # its one retry is queued again
    assert queue.counts().failed == 0 and queue.counts().queued == 1
    for t in again[1:]:
        queue.complete(t, [0.5])
    retried = [t for t in queue.study.get_trials() if t.user_attrs.get(ATTR_RETRIED)]
    assert len(retried) == 4
    # The earlier attempts are kept, with their reasons.
    reasons = [t.user_attrs.get(ATTR_REASON) for t in queue.study.get_trials()]
    assert reasons.count("error: RuntimeError: boom") == 9
