"""The Optuna queue of a sweep: enqueue once, take once, retries, leases and the reaper.

Fast: real JournalStorage files in tmp dirs, real processes for the races, no training.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from runner.errors import UserError
from runner.queue.gpus import detect_gpus
from runner.queue.leases import Lease
from runner.queue.progress import SlotView, estimate_eta_s, format_duration
from runner.queue.slots import THREAD_VARS, Slot, plan_slots
from runner.queue.space import SearchSpace
from runner.queue.store import open_store
from runner.queue.study import (
    ATTR_ATTEMPT,
    ATTR_LEASE,
    ATTR_REASON,
    ATTR_USER_ERROR,
    Counts,
    SweepQueue,
)
from runner.sweep.config import ResourcesConfig
from runner.sweep.grid import expand
from runner.sweep.load import sweep_from_dict

GRID = {
    "axes": {"frontend.win_length": [256, 512], "frontend.hop_length": [64, 128]},
    "linked": {
        "frontend.image_size": {
            "by": "frontend.hop_length",
            "values": {128: [[64, 256], [48, 256]], 64: [[64, 512]]},
        }
    },
}


def make_sweep(**sections):
    raw = {"name": "q", "grid": GRID, **sections}
    return sweep_from_dict(raw, source="test.yaml")


def open_queue(tmp_path: Path, sweep=None) -> SweepQueue:
    sweep = sweep or make_sweep()
    store = open_store(f"journal:{tmp_path / 'q.journal'}", sweep.name)
    return SweepQueue.open(sweep, expand(sweep), store)


def _sync_in_child(tmp_path: str, barrier) -> int:
    queue = open_queue(Path(tmp_path))
    barrier.wait()
    return queue.sync()


def _take_all_in_child(tmp_path: str, barrier) -> list[tuple[str, int]]:
    queue = open_queue(Path(tmp_path))
    barrier.wait()
    taken = []
    while (attempt := queue.take()) is not None:
        taken.append((attempt.spec.cfg_key, attempt.spec.seed))
        queue.complete(attempt, [0.5])
    return taken


def _child(target, tmp_path: str, barrier, results) -> None:
    results.put(target(tmp_path, barrier))


def _in_processes(target, tmp_path: Path, n: int) -> list:
    """Run target(tmp_path, barrier) in n processes released together; their return values.

    Spawned, not forked: a fork after torch has run in this process (earlier tests) can hang
    the child in torch's OpenMP pool; sweep slots are independent processes too.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(target, str(tmp_path), barrier, results)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    return out


def test_supervisors_starting_together_enqueue_each_point_once(tmp_path):
    enqueued = _in_processes(_sync_in_child, tmp_path, 4)
    queue = open_queue(tmp_path)
    trials = queue.study.get_trials()
    assert sum(enqueued) == len(queue.specs) == 6  # 6 configurations x 1 seed
    assert len(trials) == 6
    assert {(t.user_attrs["cfg_key"], t.user_attrs["seed"]) for t in trials} == {
        (s.cfg_key, s.seed) for s in queue.specs
    }
    assert queue.sync() == 0  # started again: nothing new


def test_parallel_takers_run_each_point_exactly_once(tmp_path):
    taken = _in_processes(_take_all_in_child, tmp_path, 3)
    flat = [k for part in taken for k in part]
    queue = open_queue(tmp_path)
    assert sorted(flat) == sorted((s.cfg_key, s.seed) for s in queue.specs)
    assert queue.counts() == Counts(total=6, complete=6)
    assert not queue.has_work()


def test_taken_trial_records_params_and_attrs(tmp_path):
    queue = open_queue(tmp_path)
    taken = queue.take()
    trial = queue.study.trials[taken.number]
    assert trial.state == TrialState.RUNNING
    assert trial.user_attrs[ATTR_ATTEMPT] == 1
    assert trial.user_attrs["cfg_key"] == taken.spec.cfg_key
    lease = Lease.from_attr(trial.user_attrs[ATTR_LEASE])
    assert lease.pid == os.getpid() and lease.host == socket.gethostname()
    # The linked axis is one parameter per value of the axis it follows.
    hop = taken.spec.swept["frontend.hop_length"]
    assert trial.params[f"frontend.image_size|frontend.hop_length={hop}"] in (
        "[64, 512]",
        "[64, 256]",
        "[48, 256]",
    )


def test_failures_are_retried_up_to_max_retries(tmp_path):
    queue = open_queue(tmp_path, make_sweep(search={"max_retries": 2}))
    target = None
    attempts = []
    while (taken := queue.take()) is not None:
        target = target or taken.spec.cfg_key
        if taken.spec.cfg_key == target:
            attempts.append(taken.attempt)
            queue.fail(taken, "error: boom")
        else:
            queue.complete(taken, [0.7])
    assert attempts == [1, 2, 3]  # the first try and two retries
    counts = queue.counts()
    assert counts.failed == 1 and counts.complete == 5
    point = next(p for p in queue.points() if p.spec.cfg_key == target)
    assert [t.user_attrs[ATTR_REASON] for t in point.attempts] == ["error: boom"] * 3


def test_a_user_error_is_final_on_the_first_attempt(tmp_path):
    queue = open_queue(tmp_path, make_sweep(search={"max_retries": 2}))
    target = None
    attempts = []
    while (taken := queue.take()) is not None:
        target = target or taken.spec.cfg_key
        if taken.spec.cfg_key == target:
            attempts.append(taken.attempt)
            queue.fail(taken, "error: UserError: bad.csv line 3: ...", {ATTR_USER_ERROR: True})
        else:
            queue.complete(taken, [0.7])
    assert attempts == [1]  # max_retries 2, but a retry cannot fix the user's input
    counts = queue.counts()
    assert counts.failed == 1 and counts.complete == 5 and not queue.has_work()


def test_interrupted_attempts_do_not_use_a_retry(tmp_path):
    queue = open_queue(tmp_path, make_sweep(search={"max_retries": 0}))
    taken = queue.take()
    queue.requeue(taken)
    while (again := queue.take()).spec != taken.spec:  # back at the end of the queue
        queue.complete(again, [0.5])
    assert again.attempt == 2
    queue.complete(again, [0.9])
    point = next(p for p in queue.points() if p.spec == taken.spec)
    assert point.failures == 0 and queue._state(point) == "complete"


def test_pruned_is_final_and_not_a_failure(tmp_path):
    queue = open_queue(tmp_path)
    taken = queue.take()
    queue.prune(taken)
    counts = queue.counts()
    assert counts.pruned == 1 and counts.failed == 0 and counts.queued == 5


def test_reaper_fails_stale_leases_and_requeues(tmp_path):
    queue = open_queue(tmp_path)
    taken = queue.take()
    assert queue.reap() == []  # our own fresh lease
    later = time.time() + queue.lease_timeout_s + 1
    reaped = queue.reap(now=later)
    assert [r.number for r in reaped] == [taken.number]
    assert "expired" in reaped[0].reason
    assert queue.study.trials[taken.number].state == TrialState.FAIL
    # The next attempt is queued, and the reaped owner learns it lost the lease.
    assert not queue.heartbeat(taken)
    assert not queue.complete(taken, [0.5])
    retry = next(
        t
        for t in queue.study.get_trials(states=(TrialState.WAITING,))
        if t.user_attrs["cfg_key"] == taken.spec.cfg_key
    )
    assert retry.user_attrs[ATTR_ATTEMPT] == 2


def test_reaper_takes_a_dead_local_owner_at_once(tmp_path):
    queue = open_queue(tmp_path)
    taken = queue.take()
    other = open_queue(tmp_path)  # another supervisor of the same machine
    # A fresh lease whose owner process is alive is left alone...
    assert other.reap() == []
    # ... one whose owner on this host is gone is reaped without waiting for the timeout.
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    queue.study._storage.set_trial_user_attr(
        taken.trial_id, ATTR_LEASE, Lease(socket.gethostname(), dead.pid, time.time()).to_attr()
    )
    reaped = other.reap()
    assert [r.number for r in reaped] == [taken.number] and "is gone" in reaped[0].reason


def test_search_space_round_trips_every_spec(tmp_path):
    sweep = make_sweep(seeds=2)
    specs = expand(sweep)
    space = SearchSpace.from_sweep(sweep, specs)
    study = optuna.create_study()
    for spec in specs:
        study.enqueue_trial(space.params_of(spec))
        trial = study.ask()
        assert space.suggest(trial) == spec
        study.tell(trial, 0.0)


def test_tpe_samples_n_trials_distinct_points(tmp_path):
    sweep = make_sweep(seeds=2, search={"sampler": "tpe", "n_trials": 7, "seed": 3})
    queue = open_queue(tmp_path, sweep)
    seen = []
    while (taken := queue.take()) is not None:
        seen.append((taken.spec.cfg_key, taken.spec.seed))
        queue.complete(taken, [taken.spec.swept["frontend.win_length"] / 1000])
    assert len(seen) == 7 == len(set(seen))
    assert queue.counts().complete == 7 and not queue.has_work()


def test_sqlite_storage_is_refused_with_a_reason():
    with pytest.raises(UserError, match="not safe for parallel"):
        open_store("sqlite:///optuna.db", "x")


def test_slots_gpu_and_cpu():
    gpu = plan_slots(ResourcesConfig(jobs_per_gpu=2), gpus=("0", "1"), cores=16)
    assert [(s.gpu, s.threads) for s in gpu] == [("0", 4), ("0", 4), ("1", 4), ("1", 4)]
    assert gpu[0].env({})["CUDA_VISIBLE_DEVICES"] == "0"
    cpu = plan_slots(ResourcesConfig(slots=2), gpus=(), cores=2)
    assert [(s.gpu, s.threads) for s in cpu] == [(None, 1), (None, 1)]
    env = cpu[1].env({"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["OMP_NUM_THREADS"] == "1"
    # Every native library's thread variable says the slot's threads, the number its taken carries.
    assert all(gpu[0].env({})[var] == "4" for var in THREAD_VARS)
    chosen = plan_slots(ResourcesConfig(gpus=(3,), slots=1), gpus=("0", "1", "2", "3"), cores=8)
    assert chosen == [Slot(0, "3", 8)]
    with pytest.raises(UserError, match="GPU 3 does not exist"):  # (tests/queue/test_gpus.py)
        plan_slots(ResourcesConfig(gpus=(3,)), gpus=("0", "1"), cores=8)
    with pytest.raises(UserError, match="jobs_per_gpu"):
        plan_slots(ResourcesConfig(slots=3), gpus=("0",), cores=8)


def test_detect_gpus_reads_cuda_visible_devices_without_cuda(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi: the ids as given
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ("2", "3")
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == ()


def test_eta_from_measured_durations():
    counts = Counts(total=10, complete=4, running=2, queued=4)
    slots = [SlotView(0, "cpu", "a", 1, 1, 2, 30.0), SlotView(1, "cpu", "b", 1, 1, 2, 50.0)]
    # 4 queued x 100 s + (70 + 50) s left on the running ones, over 2 slots
    assert estimate_eta_s(counts, [100.0], slots) == pytest.approx(260.0)
    assert estimate_eta_s(counts, [], slots) is None
    assert format_duration(3725) == "1h02m" and format_duration(65) == "1m05s"
