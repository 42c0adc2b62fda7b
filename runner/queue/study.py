"""The sweep's Optuna study as a work queue: every point exactly once, leases, reaping, retries.

    store = open_store(sweep.storage.url, sweep.name)   # JournalStorage file by default
    queue = SweepQueue.open(sweep, specs, store)        # creates the study, enqueues the grid once
    job = queue.take()                                  # study.ask(): one queued trial, leased to us
    queue.heartbeat(job) ... queue.complete(job, values) | queue.fail(job, reason) | queue.prune(job)

A *point* is one TrialSpec: a configuration (`cfg_key`) and a seed. Optuna trials are attempts at
points: the first attempt is enqueued with `study.enqueue_trial` (params = the point's swept values,
user attrs `cfg_key`, `seed`, `attempt`), a failed attempt is followed by a new enqueued trial with
`attempt + 1`, up to `search.max_retries` retries. A point's state is read from its trials:

    complete  one attempt COMPLETE          pruned   one attempt PRUNED (never a failure)
    running   one attempt RUNNING           queued   one attempt WAITING
    failed    more than max_retries failed attempts, nothing queued: failed for good; or one
              attempt failed on a user error (bad data, a bad config): a retry cannot help

Why a lock around every change of the queue (a file lock beside the journal, or a PostgreSQL
advisory lock): "is this point already in the study? if not, enqueue it" is a read followed by a
write, and two supervisors starting together would both enqueue it (Optuna's own
`enqueue_trial(skip_if_exists=True)` documents the same race). Under the lock the read-then-write
is atomic; `study.ask()` popping a WAITING trial is atomic in Optuna too, a second guard.

Leases: a RUNNING attempt carries the user attr `lease` = {host, pid, t}, renewed every
`storage.heartbeat_s` by the supervisor that runs it. The reaper (on start-up and periodically)
fails an attempt whose lease is older than `storage.lease_timeout_s`, or whose owner is a process
on this host that no longer exists (a SIGKILLed supervisor restarted here is reaped at once), and
enqueues the next attempt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from runner.errors import UserError
from runner.servers.remote import check_storage, open_rdb_storage
from runner.servers.secrets import mask_text, mask_url, url_password
from runner.sweep import schema as _schema

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

# Reasons that are not the trial's fault: the attempt goes back to the queue without using a retry.
REASON_INTERRUPTED = "interrupted"

DEFAULT_STUDY_DIR = Path(".specsweep/studies")

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class Store:
    """An Optuna storage plus the lock that makes queue changes atomic across supervisors.

    `url` is what a child process passes to `open_store` to reach the same storage:
    `journal:/abs/path.journal` for the default journal file, else the database URL.
    """

    url: str
    storage: BaseStorage = field(repr=False)
    lock_path: Path | None = None  # file lock (journal, or a database without advisory locks)

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the queue lock of study `name` (blocking)."""
        if self.lock_path is not None:
            with _file_lock(self.lock_path):
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
        storage = JournalStorage(JournalFileBackend(str(path)))
        return Store(f"journal:{path}", storage, path.with_name(path.name + ".queue.lock"))
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
def _file_lock(path: Path) -> Iterator[None]:
    # flock is released by the kernel when the holder dies, so a SIGKILLed supervisor never
    # leaves the queue locked.
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


# --------------------------------------------------------------------------- study


def directions(search: SearchConfig) -> list[str]:
    """MAP on the first evaluation set (maximise); optionally training time too (minimise)."""
    return ["maximize", "minimize"] if search.objective == "map_and_time" else ["maximize"]


def make_sampler(search: SearchConfig) -> optuna.samplers.BaseSampler:
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=search.seed)
    # grid: every trial is enqueued with fixed params, the sampler is never asked.
    return optuna.samplers.RandomSampler(seed=search.seed)


def make_pruner(search: SearchConfig) -> optuna.pruners.BasePruner:
    """The median rule on per-epoch validation MAP (opt-in), else never prune."""
    if not search.pruning:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=search.prune_startup_trials, n_warmup_steps=search.prune_warmup_epochs
    )


def open_study(sweep: SweepConfig, store: Store) -> optuna.Study:
    """Create or load the sweep's study (named after the sweep), checking its objectives."""
    wanted = directions(sweep.search)
    with store.lock(sweep.name):
        study = optuna.create_study(
            study_name=sweep.name,
            storage=store.storage,
            directions=wanted,
            sampler=make_sampler(sweep.search),
            pruner=make_pruner(sweep.search),
            load_if_exists=True,
        )
    have = [d.name.lower() for d in study.directions]
    if have != wanted:
        raise UserError(
            f"search.objective: '{sweep.search.objective}' needs objectives {wanted}, but the "
            f"study '{sweep.name}' in {mask_url(store.url)} was created with {have}; set the objective it "
            "was started with, or give the sweep a new name"
        )
    return study


# --------------------------------------------------------------------------- search space


def encode(value: Any) -> Any:
    """A grid value as an Optuna categorical choice: scalars as they are, lists as JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(_schema.to_plain(value))


def _canon(point: dict[str, Any]) -> str:
    return json.dumps({k: _schema.to_plain(v) for k, v in point.items()}, sort_keys=True)


@dataclass(frozen=True)
class SearchSpace:
    """The grid's axes as Optuna categorical parameters, walked define-by-run.

    Plain axes are one parameter each; a `zip` group is one parameter (its keys joined by '+');
    a `linked` axis is one parameter per value of the axis it follows, named
    `key|by=value`, so a sampler only proposes image sizes that exist for the sampled hop.
    Seeds are the parameter `seed` when there are several. A sampled combination that is not a
    grid point (removed by `grid.exclude`) resolves to no spec.
    """

    factors: tuple[tuple[str, tuple[str, ...], str | None, dict[str, tuple]], ...]
    seeds: tuple[int, ...]
    specs: dict[tuple[str, int], TrialSpec]  # (canonical point, seed) -> spec

    @classmethod
    def from_sweep(cls, sweep: SweepConfig, specs: Sequence[TrialSpec]) -> SearchSpace:
        points = [s.swept for s in specs if s.seed == sweep.seeds[0]]
        factors = []
        # (param name, keys, linked-by key or None, {parent choice: choices})
        for key in sweep.grid.axes:
            factors.append((key, (key,), None, {"": _unique([(p[key],) for p in points])}))
        for group in sweep.grid.zip:
            keys = tuple(group)
            factors.append(
                (
                    "+".join(keys),
                    keys,
                    None,
                    {"": _unique([tuple(p[k] for k in keys) for p in points])},
                )
            )
        for key, link in sweep.grid.linked.items():
            by = link["by"]
            by_parent: dict[str, list] = {}
            for p in points:
                by_parent.setdefault(json.dumps(encode(p[by])), []).append((p[key],))
            factors.append((key, (key,), by, {k: _unique(v) for k, v in by_parent.items()}))
        lookup = {(_canon(s.swept), s.seed): s for s in specs}
        return cls(tuple(factors), tuple(sweep.seeds), lookup)

    def _param(self, name: str, by: str | None, point: dict[str, Any]) -> tuple[str, str]:
        if by is None:
            return name, ""
        parent = json.dumps(encode(point[by]))
        return f"{name}|{by}={encode(point[by])}", parent

    def params_of(self, spec: TrialSpec) -> dict[str, Any]:
        """The Optuna params of a spec (what `enqueue_trial` fixes and `suggest` returns)."""
        params: dict[str, Any] = {}
        for name, keys, by, _ in self.factors:
            pname, _parent = self._param(name, by, spec.swept)
            params[pname] = (
                encode(tuple(spec.swept[k] for k in keys))
                if len(keys) > 1
                else encode(spec.swept[keys[0]])
            )
        if len(self.seeds) > 1:
            params["seed"] = spec.seed
        return params

    def suggest(self, trial: optuna.Trial) -> TrialSpec | None:
        """Ask `trial` for every parameter (fixed ones come back as enqueued); the spec or None."""
        point: dict[str, Any] = {}
        for name, keys, by, choices in self.factors:
            pname, parent = self._param(name, by, point)
            options = choices[parent]
            picked = trial.suggest_categorical(
                pname, [encode(o if len(keys) > 1 else o[0]) for o in options]
            )
            row = next(o for o in options if encode(o if len(keys) > 1 else o[0]) == picked)
            point.update(zip(keys, row))
        seed = (
            trial.suggest_categorical("seed", list(self.seeds))
            if len(self.seeds) > 1
            else self.seeds[0]
        )
        return self.specs.get((_canon(point), seed))


def _unique(rows: list[tuple]) -> tuple[tuple, ...]:
    seen: dict[str, tuple] = {}
    for row in rows:
        seen.setdefault(json.dumps(_schema.to_plain(row)), row)
    return tuple(seen.values())


# --------------------------------------------------------------------------- leases


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
        """Failed attempts that count against max_retries (interruptions do not)."""
        return sum(
            t.state == TrialState.FAIL and t.user_attrs.get(ATTR_REASON) != REASON_INTERRUPTED
            for t in self.attempts
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

    def last_reason(self) -> str | None:
        for t in reversed(self.attempts):
            if ATTR_REASON in t.user_attrs:
                return str(t.user_attrs[ATTR_REASON])
        return None


@dataclass(frozen=True)
class Job:
    """An attempt this supervisor took: run `spec` as Optuna trial `number` (`trial_id`)."""

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
        study = open_study(sweep, store)
        queue = cls(
            study,
            store,
            specs,
            SearchSpace.from_sweep(sweep, specs),
            sweep.search,
            lease_timeout_s=sweep.storage.lease_timeout_s,
        )
        return queue

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
        if counts.running or counts.queued:
            return True
        # Sampling: until n_trials distinct points were drawn, or every grid point was.
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

    def _enqueue(self, spec: TrialSpec, attempt: int) -> None:
        self.study.enqueue_trial(
            self.space.params_of(spec),
            user_attrs={
                ATTR_CFG_KEY: spec.cfg_key,
                ATTR_SEED: spec.seed,
                ATTR_NAME: spec.name,
                ATTR_ATTEMPT: attempt,
            },
        )

    def take(self) -> Job | None:
        """The next attempt to run, leased to this process; None when nothing is left to take."""
        with self.store.lock(self._name):
            self._sync_locked()
            waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            if waiting:
                return self._take_waiting()
            if self.search.sampler != "grid":
                return self._take_sampled()
            return None

    def _take_waiting(self) -> Job | None:
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
        return Job(trial._trial_id, trial.number, spec, int(attrs[ATTR_ATTEMPT]))

    def _take_sampled(self, max_rejects: int = 50) -> Job | None:
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
            return Job(trial._trial_id, trial.number, spec, 1)
        return None

    def heartbeat(self, job: Job) -> bool:
        """Renew the lease; False when the attempt was reaped meanwhile (stop its child)."""
        try:
            self.study._storage.set_trial_user_attr(
                job.trial_id, ATTR_LEASE, Lease.mine().to_attr()
            )
        except optuna.exceptions.UpdateFinishedTrialError:
            return False
        return True

    def complete(
        self, job: Job, values: Sequence[float], attrs: dict[str, Any] | None = None
    ) -> bool:
        return self._finish(job, TrialState.COMPLETE, values, attrs)

    def prune(self, job: Job, attrs: dict[str, Any] | None = None) -> bool:
        return self._finish(job, TrialState.PRUNED, None, {ATTR_REASON: "pruned", **(attrs or {})})

    def fail(self, job: Job, reason: str, attrs: dict[str, Any] | None = None) -> bool:
        """Fail the attempt and enqueue the next one when retries are left (or when interrupted)."""
        return self._finish(job, TrialState.FAIL, None, {ATTR_REASON: reason, **(attrs or {})})

    def requeue(self, job: Job) -> bool:
        """Put an interrupted attempt back in the queue without using one of its retries."""
        return self.fail(job, REASON_INTERRUPTED)

    def _finish(self, job, state, values, attrs) -> bool:
        """Tell Optuna; False when the attempt had already been reaped by someone else."""
        storage = self.study._storage
        with self.store.lock(self._name):
            # Under the lock nobody else tells; a finished attempt was reaped by another supervisor.
            if storage.get_trial(job.trial_id).state.is_finished():
                return False
            for name, value in (attrs or {}).items():
                storage.set_trial_user_attr(job.trial_id, name, value)
            self.study.tell(job.number, values=values, state=state if values is None else None)
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
