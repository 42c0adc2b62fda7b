"""The sweep as an Optuna study: its objectives, sampler and pruner, and the grid as parameters.

    study = open_study(sweep, store)                 # created once, named after the sweep
    space = SearchSpace.from_sweep(sweep, specs)
    study.enqueue_trial(space.params_of(spec))       # a grid point as fixed parameters
    spec = space.suggest(trial)                      # a sampled trial back as a point (or None)

Every grid value is an Optuna categorical choice (`encode`: scalars as they are, lists as JSON
text), so the grid sampler only enqueues and TPE samples among values the grid really has.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna

from runner.errors import UserError
from runner.queue.job import Pruning
from runner.queue.journal import damaged_journal
from runner.queue.store import Store
from runner.servers.secrets import mask_url
from runner.sweep import schema as _schema

if TYPE_CHECKING:
    from runner.sweep.config import SearchConfig, SweepConfig
    from runner.sweep.spec import TrialSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- study


def directions(search: SearchConfig) -> list[str]:
    """MAP on the first evaluation set (maximise); optionally training time too (minimise)."""
    return ["maximize", "minimize"] if search.objective == "map_and_time" else ["maximize"]


def make_sampler(search: SearchConfig) -> optuna.samplers.BaseSampler:
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=search.seed)
    # grid: every trial is enqueued with fixed params, the sampler is never asked.
    return optuna.samplers.RandomSampler(seed=search.seed)


def make_pruner(pruning: Pruning | None) -> optuna.pruners.BasePruner:
    """The median rule on per-epoch validation MAP (opt-in, `Pruning.of(sweep)`), else never prune.

    Optuna does not store a study's pruner: the supervisor and every child that reports epochs
    build the same one from the same settings.
    """
    if pruning is None:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruning.startup_trials, n_warmup_steps=pruning.warmup_epochs
    )


def open_study(sweep: SweepConfig, store: Store) -> optuna.Study:
    """Create or load the sweep's study (named after the sweep), checking its objectives."""
    wanted = directions(sweep.search)
    with store.lock(sweep.name):
        try:
            study = optuna.create_study(
                study_name=sweep.name,
                storage=store.storage,
                directions=wanted,
                sampler=make_sampler(sweep.search),
                pruner=make_pruner(Pruning.of(sweep)),
                load_if_exists=True,
            )
        except ValueError as err:  # JSONDecodeError / "Invalid log format.": a bad journal line
            if store.journal is None or not _journal_error(err):
                raise
            raise damaged_journal(store.journal, err) from None
    have = [d.name.lower() for d in study.directions]
    if have != wanted:
        raise UserError(
            f"search.objective: '{sweep.search.objective}' needs objectives {wanted}, but the "
            f"study '{sweep.name}' in {mask_url(store.url)} was created with {have}; set the objective it "
            "was started with, or give the sweep a new name"
        )
    return study


def _journal_error(err: ValueError) -> bool:
    return isinstance(err, json.JSONDecodeError) or "Invalid log format" in str(err)


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
