"""The sweep's Optuna study as a work queue: every point exactly once, leases, reaping, retries.

    store = open_store(sweep.storage.url, sweep.name)   # runner.queue.store
    queue = SweepQueue.open(sweep, specs, store)        # creates the study, enqueues the grid once
    taken = queue.take()                                # study.ask(): one Attempt, leased to us
    queue.heartbeat(taken) ... queue.complete(taken, values) | .fail(taken, reason) | .prune(taken)

A *point* is one TrialSpec: a configuration (`cfg_key`) and a seed. Optuna trials are attempts at
points: the first attempt is enqueued with `study.enqueue_trial` (params = the point's swept values,
user attrs `cfg_key`, `seed`, `attempt`), a failed attempt is followed by a new enqueued trial with
`attempt + 1`, up to `search.max_retries` retries. A point's state is read from its trials:

    complete  one attempt COMPLETE          pruned   one attempt PRUNED (never a failure)
    running   one attempt RUNNING           queued   one attempt WAITING
    failed    more than max_retries failed attempts, nothing queued: failed for good; or one
              attempt failed on a user error (bad data, a bad config): a retry cannot help

Every change of the queue holds the store's lock (`Store.lock`, runner.queue.store says why):
under it "is this point in the study? if not, enqueue it" is atomic; `study.ask()` popping a
WAITING trial is atomic in Optuna too, a second guard.

Leases (runner.queue.leases): a RUNNING attempt carries the user attr `lease` = {host, pid, t}, renewed every
`storage.heartbeat_s` by the supervisor that runs it. The reaper (on start-up and periodically)
fails an attempt whose lease is older than `storage.lease_timeout_s`, or whose owner is a process
on this host that no longer exists (a SIGKILLed supervisor restarted here is reaped at once), and
enqueues the next attempt.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from runner.queue.leases import Lease
from runner.queue.space import SearchSpace, open_study
from runner.queue.store import Store

if TYPE_CHECKING:
    from runner.sweep.config import SearchConfig, SweepConfig
    from runner.sweep.spec import TrialSpec

# User attributes on every attempt (Optuna trial) of a point.
ATTR_CFG_KEY = "cfg_key"
ATTR_SEED = "seed"
ATTR_NAME = "trial_name"
ATTR_ATTEMPT = "attempt"  # 1-based, unique per point: the MLflow run's `attempt` tag
ATTR_LEASE = "lease"  # {"host", "pid", "t"} while RUNNING
ATTR_REASON = "reason"  # why an attempt is not COMPLETE: killed, interrupted, error: ...
ATTR_RUN_ID = "mlflow_run_id"
ATTR_TRAIN_TIME = "train_time_s"
ATTR_USER_ERROR = "user_error"  # True on a FAIL caused by the user's input: never retried
ATTR_NOT_LEARNED = "not_learned"  # a complete trial tagged learned=no: the one-line reason
ATTR_IGNORED = "ignored"  # a sampled trial that is not a new point (duplicate / outside the grid)

ATTR_RETRIED = "retried"  # on an attempt `--retry-failed` queued: its point's retries start over

# Reasons that are not the trial's fault: the attempt goes back to the queue without using a retry.
REASON_INTERRUPTED = "interrupted"
REASON_DISK_FULL = "disk full at "  # runner.errors.disk_full_message


def counts_as_failure(reason: Any) -> bool:
    """Whether a failed attempt with this reason uses one of its point's retries."""
    text = str(reason or "")
    return text != REASON_INTERRUPTED and not text.startswith(REASON_DISK_FULL)


# --------------------------------------------------------------------------- points


@dataclass
class Point:
    """One spec and its attempts (Optuna trials, oldest first)."""

    spec: TrialSpec
    attempts: list[FrozenTrial] = field(default_factory=list)

    @property
    def state(self) -> str:
        """complete | pruned | running | queued | failed | retry | new (see the module docstring)."""
        states = [t.state for t in self.attempts]
        if TrialState.COMPLETE in states:
            return "complete"
        if TrialState.PRUNED in states:
            return "pruned"
        if TrialState.RUNNING in states:
            return "running"
        if TrialState.WAITING in states:
            return "queued"
        if not self.attempts:
            return "new"
        return "retry"  # the caller turns this into 'failed' once retries are used up

    @property
    def failures(self) -> int:
        """Failed attempts that count against max_retries (interruptions and a full disk do not),
        since the last `--retry-failed`."""
        start = max(
            (i for i, t in enumerate(self.attempts) if t.user_attrs.get(ATTR_RETRIED)), default=0
        )
        return sum(
            t.state == TrialState.FAIL and counts_as_failure(t.user_attrs.get(ATTR_REASON))
            for t in self.attempts[start:]
        )

    @property
    def user_error(self) -> bool:
        """The last attempt failed on a mistake in the user's input: a retry cannot fix it."""
        last = self.attempts[-1] if self.attempts else None
        return bool(
            last is not None
            and last.state == TrialState.FAIL
            and last.user_attrs.get(ATTR_USER_ERROR)
        )

    @property
    def next_attempt(self) -> int:
        return max((int(t.user_attrs.get(ATTR_ATTEMPT, 0)) for t in self.attempts), default=0) + 1

    @property
    def final(self) -> FrozenTrial | None:
        """The attempt that decided the point (COMPLETE / PRUNED), or the last one."""
        for t in self.attempts:
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                return t
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True)
class Attempt:
    """An attempt this supervisor took from the queue: run `spec` as Optuna trial `number`
    (`trial_id`), the point's `attempt`-th (runner.queue.job.Job is what a child is handed)."""

    trial_id: int
    number: int
    spec: TrialSpec
    attempt: int


@dataclass(frozen=True)
class Reaped:
    """An attempt failed by the reaper: its MLflow run (by cfg_key/seed/attempt) needs closing."""

    number: int
    spec: TrialSpec | None
    attempt: int
    reason: str


@dataclass(frozen=True)
class Counts:
    total: int  # points in the sweep (grid) or the sampling budget (random/tpe)
    complete: int = 0
    pruned: int = 0
    running: int = 0
    queued: int = 0
    failed: int = 0  # failed for good
    retrying: int = 0  # queued or running again after a failed attempt

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def remaining(self) -> int:
        return max(self.total - self.finished, 0)


class SweepQueue:
    """The sweep's study as a queue of points; every method that changes it holds the lock."""

    def __init__(
        self,
        study: optuna.Study,
        store: Store,
        specs: Sequence[TrialSpec],
        space: SearchSpace,
        search: SearchConfig,
        *,
        lease_timeout_s: float = 120.0,
    ):
        self.study = study
        self.store = store
        self.specs = list(specs)
        self.space = space
        self.search = search
        self.lease_timeout_s = lease_timeout_s
        self._by_key = {(s.cfg_key, s.seed): s for s in self.specs}
        self._name = study.study_name

    @classmethod
    def open(cls, sweep: SweepConfig, specs: Sequence[TrialSpec], store: Store) -> SweepQueue:
        return cls(
            open_study(sweep, store),
            store,
            specs,
            SearchSpace.from_sweep(sweep, specs),
            sweep.search,
            lease_timeout_s=sweep.storage.lease_timeout_s,
        )

    # ------------------------------------------------------------------ reading

    def points(self) -> list[Point]:
        """The sweep's points with their attempts: every spec (grid) or every sampled one."""
        trials = self.study.get_trials(deepcopy=False)
        by_key: dict[tuple[str, int], Point] = {}
        if self.search.sampler == "grid":
            by_key = {k: Point(s) for k, s in self._by_key.items()}
        for t in trials:
            if ATTR_IGNORED in t.user_attrs or ATTR_CFG_KEY not in t.user_attrs:
                continue
            key = (t.user_attrs[ATTR_CFG_KEY], int(t.user_attrs[ATTR_SEED]))
            spec = self._by_key.get(key)
            if spec is None:  # a point of an earlier version of the sweep file: not ours now
                continue
            by_key.setdefault(key, Point(spec)).attempts.append(t)
        return list(by_key.values())

    def counts(self) -> Counts:
        total = len(self.specs) if self.search.sampler == "grid" else int(self.search.n_trials or 0)
        tally = dict.fromkeys(("complete", "pruned", "running", "queued", "failed", "retrying"), 0)
        for p in self.points():
            state = self._state(p)
            if state in tally:
                tally[state] += 1
            if state in ("running", "queued") and p.failures:
                tally["retrying"] += 1
        return Counts(total=total, **tally)

    def _state(self, point: Point) -> str:
        state = point.state
        if state == "retry" and (point.failures > self.search.max_retries or point.user_error):
            return "failed"
        return state

    def has_work(self) -> bool:
        """True while something is queued, running anywhere, or still to be sampled."""
        counts = self.counts()
        return bool(counts.running or counts.queued) or self.to_sample(counts)

    def to_sample(self, counts: Counts) -> bool:
        """Whether the sampler still has points to draw: until n_trials distinct points were
        drawn, or every grid point was (random / tpe; never for the grid)."""
        budget = min(counts.total, len(self.specs))
        return self.search.sampler != "grid" and len(self.points()) < budget

    # ------------------------------------------------------------------ changing

    def sync(self) -> int:
        """Enqueue every point that needs an attempt: new grid points, and retries. Returns how many."""
        with self.store.lock(self._name):
            return self._sync_locked()

    def _sync_locked(self) -> int:
        enqueued = 0
        for point in self.points():
            state = self._state(point)
            if state not in ("new", "retry"):
                continue
            self._enqueue(point.spec, point.next_attempt)
            enqueued += 1
        return enqueued

    def _enqueue(self, spec: TrialSpec, attempt: int, retried: bool = False) -> None:
        attrs = {ATTR_CFG_KEY: spec.cfg_key, ATTR_SEED: spec.seed, ATTR_NAME: spec.name}
        attrs[ATTR_ATTEMPT] = attempt
        if retried:
            attrs[ATTR_RETRIED] = True
        self.study.enqueue_trial(self.space.params_of(spec), user_attrs=attrs)

    def retry_failed(self) -> list[Point]:
        """Queue one more attempt of every point that failed for good (`--retry-failed`), its
        retries counted afresh; the earlier attempts stay (in Optuna and MLflow). Returns them."""
        with self.store.lock(self._name):
            failed = [p for p in self.points() if self._state(p) == "failed"]
            for point in failed:
                self._enqueue(point.spec, point.next_attempt, retried=True)
        return failed

    def take(self) -> Attempt | None:
        """The next attempt to run, leased to this process; None when nothing is left to take."""
        with self.store.lock(self._name):
            self._sync_locked()
            waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if waiting:
                return self._take_waiting()
            if self.search.sampler != "grid":
                return self._take_sampled()
            return None

    def _take_waiting(self) -> Attempt | None:
        trial = self.study.ask()
        attrs = trial.user_attrs
        key = (attrs.get(ATTR_CFG_KEY), int(attrs.get(ATTR_SEED, -1)))
        spec = self._by_key.get(key)  # type: ignore[arg-type]
        if spec is None:  # queued by an earlier version of the sweep file
            trial.set_user_attr(ATTR_IGNORED, "not a point of the current sweep file")
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        self.space.suggest(trial)  # records the enqueued params on the trial
        trial.set_user_attr(ATTR_LEASE, Lease.mine().to_attr())
        return Attempt(trial._trial_id, trial.number, spec, int(attrs[ATTR_ATTEMPT]))

    def _take_sampled(self, max_rejects: int = 50) -> Attempt | None:
        """Ask the sampler for new points until one is new to the study (random / tpe)."""
        budget = int(self.search.n_trials or 0)
        for _ in range(max_rejects):
            points = {(p.spec.cfg_key, p.spec.seed): p for p in self.points()}
            if len(points) >= budget or len(points) >= len(self.specs):
                return None
            trial = self.study.ask()
            spec = self.space.suggest(trial)
            if spec is None:
                trial.set_user_attr(ATTR_IGNORED, "outside the grid (grid.exclude)")
                self.study.tell(trial, state=TrialState.FAIL)
                continue
            seen = points.get((spec.cfg_key, spec.seed))
            if seen is not None:
                # Already run or queued: tell the sampler the known result so it moves on.
                trial.set_user_attr(ATTR_IGNORED, f"duplicate of trial {seen.attempts[0].number}")
                done = seen.final
                if done is not None and done.state == TrialState.COMPLETE:
                    self.study.tell(trial, done.values)
                else:
                    self.study.tell(trial, state=TrialState.FAIL)
                continue
            for name, value in {
                ATTR_CFG_KEY: spec.cfg_key,
                ATTR_SEED: spec.seed,
                ATTR_NAME: spec.name,
                ATTR_ATTEMPT: 1,
                ATTR_LEASE: Lease.mine().to_attr(),
            }.items():
                trial.set_user_attr(name, value)
            return Attempt(trial._trial_id, trial.number, spec, 1)
        return None

    def heartbeat(self, taken: Attempt) -> bool:
        """Renew the lease; False when the attempt was reaped meanwhile (stop its child)."""
        try:
            self.study._storage.set_trial_user_attr(
                taken.trial_id, ATTR_LEASE, Lease.mine().to_attr()
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def complete(
        self, taken: Attempt, values: Sequence[float], attrs: dict[str, Any] | None = None
    ) -> bool:
        return self._finish(taken, TrialState.COMPLETE, values, attrs)

    def prune(self, taken: Attempt, attrs: dict[str, Any] | None = None) -> bool:
        return self._finish(
            taken, TrialState.PRUNED, None, {ATTR_REASON: "pruned", **(attrs or {})}
        )

    def fail(self, taken: Attempt, reason: str, attrs: dict[str, Any] | None = None) -> bool:
        """Fail the attempt and enqueue the next one when retries are left (or when interrupted)."""
        return self._finish(taken, TrialState.FAIL, None, {ATTR_REASON: reason, **(attrs or {})})

    def requeue(self, taken: Attempt) -> bool:
        """Put an interrupted attempt back in the queue without using one of its retries."""
        return self.fail(taken, REASON_INTERRUPTED)

    def _finish(self, taken: Attempt, state, values, attrs) -> bool:
        """Tell Optuna; False when the attempt had already been reaped by someone else."""
        storage = self.study._storage
        with self.store.lock(self._name):
            # Under the lock nobody else tells; a finished attempt was reaped by another supervisor.
            if storage.get_trial(taken.trial_id).state.is_finished():
                return False
            for name, value in (attrs or {}).items():
                storage.set_trial_user_attr(taken.trial_id, name, value)
            self.study.tell(taken.number, values=values, state=state if values is None else None)
            self._sync_locked()
        return True

    def reap(self, now: float | None = None, exclude: Sequence[int] = ()) -> list[Reaped]:
        """Fail RUNNING attempts whose lease went stale and enqueue their next attempts.

        `exclude`: trial numbers this process is running (their leases are ours, never stale).
        """
        now = time.time() if now is None else now
        reaped = []
        storage = self.study._storage
        with self.store.lock(self._name):
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if t.number in exclude:
                    continue
                lease = Lease.from_attr(t.user_attrs.get(ATTR_LEASE))
                if lease is None:  # taken but never leased: the taker died inside take()
                    started = t.datetime_start.timestamp() if t.datetime_start else 0.0
                    lease = Lease("?", -1, started)
                why = lease.stale_reason(now, self.lease_timeout_s)
                if why is None:
                    continue
                reason = f"killed: {why}"
                storage.set_trial_user_attr(t._trial_id, ATTR_REASON, reason)
                self.study.tell(t.number, state=TrialState.FAIL)
                key = (t.user_attrs.get(ATTR_CFG_KEY), int(t.user_attrs.get(ATTR_SEED, -1)))
                reaped.append(
                    Reaped(
                        t.number,
                        self._by_key.get(key),
                        int(t.user_attrs.get(ATTR_ATTEMPT, 0)),
                        reason,
                    )  # type: ignore[arg-type]
                )
            self._sync_locked()
        return reaped
