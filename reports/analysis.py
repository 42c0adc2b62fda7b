"""The numbers behind the figures: per-configuration means, seed noise, Pareto front, paired effects.

All pure functions of a `SweepTable` (or of what they return). Only finished trials count: a
running, failed or pruned trial has no final MAP, and a partial mean would mislead.

    configs = summarise(table)                           # one Configuration per grid point
    sigma = seed_std(configs, "test")                    # pooled seed-to-seed std, or None
    front = pareto_front(configs, "test")                # cfg_keys, fastest first
    for c in comparisons(configs, table.swept_keys, "test"):
        print(c.sentence(table.swept_keys, sigma))       # "mel beat linear in 6 of 6 pairs, ..."
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.labels import config_label, levels_text, sort_key
from reports.table import SweepTable


@dataclass(frozen=True)
class Configuration:
    """One grid point, its finished seeds pooled.

    `map_by_seed[set]` lists the final MAP of each finished seed (same order as `seeds`);
    `map_std` is the sample std over seeds (ddof=1), None with fewer than two.
    """

    cfg_key: str
    label: str
    swept: Mapping[str, Any]
    seeds: tuple[int, ...]
    map_by_seed: Mapping[str, tuple[float, ...]]
    train_time_by_seed_s: tuple[float, ...]

    def map_mean(self, eval_set: str) -> float:
        return float(np.mean(self.map_by_seed[eval_set]))

    def map_std(self, eval_set: str) -> float | None:
        values = self.map_by_seed[eval_set]
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    @property
    def train_time_s(self) -> float:
        return float(np.mean(self.train_time_by_seed_s))

    @property
    def train_time_std_s(self) -> float | None:
        t = self.train_time_by_seed_s
        return float(np.std(t, ddof=1)) if len(t) > 1 else None

    def has(self, eval_set: str) -> bool:
        return len(self.map_by_seed.get(eval_set, ())) > 0


def summarise(table: SweepTable) -> list[Configuration]:
    """One `Configuration` per `cfg_key` with at least one finished trial, in grid order
    (the swept values sorted key by key)."""
    by_key: dict[str, list] = {}
    for t in table.trials:
        if t.finished and t.train_time_s is not None:
            by_key.setdefault(t.cfg_key, []).append(t)
    configs = []
    for cfg_key, trials in by_key.items():
        trials.sort(key=lambda t: t.seed)
        map_by_seed = {
            s: tuple(float(t.map[s]) for t in trials if s in t.map) for s in table.eval_sets
        }
        configs.append(
            Configuration(
                cfg_key=cfg_key,
                label=config_label(trials[0].swept, table.swept_keys),
                swept=dict(trials[0].swept),
                seeds=tuple(t.seed for t in trials),
                map_by_seed={s: v for s, v in map_by_seed.items() if v},
                train_time_by_seed_s=tuple(float(t.train_time_s) for t in trials),
            )
        )
    configs.sort(key=lambda c: tuple(sort_key(c.swept.get(k)) for k in table.swept_keys))
    return configs


def seed_std(configs: Sequence[Configuration], eval_set: str) -> float | None:
    """Pooled seed-to-seed standard deviation of MAP on `eval_set`.

    sqrt(sum_i (n_i - 1) s_i^2 / sum_i (n_i - 1)) over configurations with n_i >= 2 seeds: every
    configuration's spread estimates the same training noise, so pooling them is the best estimate
    one sweep gives. None when no configuration has two finished seeds.
    """
    num, dof = 0.0, 0
    for c in configs:
        values = c.map_by_seed.get(eval_set, ())
        if len(values) > 1:
            num += (len(values) - 1) * float(np.var(values, ddof=1))
            dof += len(values) - 1
    return math.sqrt(num / dof) if dof else None


def pareto_front(configs: Sequence[Configuration], eval_set: str) -> list[str]:
    """`cfg_key`s of the configurations no other one beats on both MAP and training time
    (higher mean MAP, lower mean training time), fastest first."""
    points = [
        (c.train_time_s, -c.map_mean(eval_set), c.cfg_key) for c in configs if c.has(eval_set)
    ]
    front, best_map = [], -math.inf
    for _time_s, neg_map, key in sorted(points):
        if -neg_map > best_map:
            front.append(key)
            best_map = -neg_map
    return front


@dataclass(frozen=True)
class Comparison:
    """Paired differences for one factor between two of its levels on one evaluation set.

    A pair is two configurations whose swept values differ only in `keys`; `diffs` are
    MAP(winner) - MAP(loser), one per pair, and `time_ratios` the training time ratios
    winner / loser. `winner` is the level with the higher mean difference (ties: the first level).
    """

    keys: tuple[str, ...]
    winner: tuple[Any, ...]
    loser: tuple[Any, ...]
    eval_set: str
    diffs: tuple[float, ...]
    time_ratios: tuple[float, ...]
    pairs: tuple[tuple[str, str], ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.diffs))

    @property
    def low(self) -> float:
        return float(np.min(self.diffs))

    @property
    def high(self) -> float:
        return float(np.max(self.diffs))

    @property
    def wins(self) -> int:
        return sum(d > 0 for d in self.diffs)

    @property
    def time_ratio(self) -> float:
        """Geometric mean of the pairs' training time ratios (winner / loser)."""
        return float(np.exp(np.mean(np.log(self.time_ratios))))

    def names(self, all_keys: Sequence[str]) -> tuple[str, str]:
        return (
            levels_text(self.keys, self.winner, all_keys),
            levels_text(self.keys, self.loser, all_keys),
        )

    def within_noise(self, sigma: float | None) -> bool:
        return sigma is not None and abs(self.mean) < sigma

    def sentence(self, all_keys: Sequence[str], sigma: float | None = None) -> str:
        """The takeaway, e.g. "mel beat linear in 6 of 6 pairs, +0.041 MAP (range +0.020 to
        +0.060), at 1.02× the training time"; flagged when the mean is inside the seed noise."""
        win, lose = self.names(all_keys)
        n = len(self.diffs)
        pairs = "pair" if n == 1 else "pairs"
        spread = f" (range {self.low:+.3f} to {self.high:+.3f})" if n > 1 else ""
        if self.mean == 0:
            text = f"{win} and {lose} tied over {n} {pairs}, +0.000 MAP{spread}"
        else:
            text = f"{win} beat {lose} in {self.wins} of {n} {pairs}, {self.mean:+.3f} MAP{spread}"
        text += f", at {self.time_ratio:.2f}× the training time"
        if self.within_noise(sigma):
            text += f"; smaller than the seed-to-seed spread (std {sigma:.3f}), so it may be noise"
        return text + "."


def factors(configs: Sequence[Configuration], keys: Sequence[str]) -> list[tuple[str, ...]]:
    """The factors to compare: each swept key that varies on its own between two configurations,
    and, for a key tied to others by the grid (hop 64 only ever with image 128×1024), the
    smallest set of keys that varies together with it. In grid order."""
    diff_sets = {_differing(a, b, keys) for a, b in itertools.combinations(configs, 2)}
    diff_sets.discard(())
    singles = {d for d in diff_sets if len(d) == 1}
    out = set(singles)
    for key in keys:
        if (key,) in singles:
            continue
        with_key = [d for d in diff_sets if key in d]
        if with_key:
            smallest = min(len(d) for d in with_key)
            out.update(d for d in with_key if len(d) == smallest)
    return sorted(out, key=lambda d: (len(d), [keys.index(k) for k in d]))


def comparisons(
    configs: Sequence[Configuration], keys: Sequence[str], eval_set: str
) -> list[Comparison]:
    """Every factor (see `factors`) x every pair of its levels that some pair of configurations
    differing only in that factor covers, on `eval_set`. In factor order, then level order."""
    keys = tuple(keys)
    configs = [c for c in configs if c.has(eval_set)]
    out = []
    for factor in factors(configs, keys):
        by_levels: dict[tuple, list[tuple[Configuration, Configuration]]] = {}
        for a, b in itertools.combinations(configs, 2):
            if _differing(a, b, keys) != factor:
                continue
            la, lb = _level(a, factor), _level(b, factor)
            # Orient every pair the same way (lower level first) so its differences line up.
            if _level_order(la) > _level_order(lb):
                a, b, la, lb = b, a, lb, la
            by_levels.setdefault((la, lb), []).append((a, b))
        for (la, lb), pairs in sorted(by_levels.items(), key=lambda kv: _pair_order(kv[0])):
            diffs = [a.map_mean(eval_set) - b.map_mean(eval_set) for a, b in pairs]
            if np.mean(diffs) < 0:
                pairs = [(b, a) for a, b in pairs]
                la, lb = lb, la
                diffs = [-d for d in diffs]
            out.append(
                Comparison(
                    keys=factor,
                    winner=la,
                    loser=lb,
                    eval_set=eval_set,
                    diffs=tuple(float(d) for d in diffs),
                    time_ratios=tuple(a.train_time_s / b.train_time_s for a, b in pairs),
                    pairs=tuple((a.cfg_key, b.cfg_key) for a, b in pairs),
                )
            )
    return out


def within_noise_of_best(
    configs: Sequence[Configuration], eval_set: str, sigma: float
) -> list[Configuration]:
    """Configurations whose mean MAP is less than `sigma` below the best one's (best included),
    best first: one sweep cannot tell these apart."""
    ranked = sorted((c for c in configs if c.has(eval_set)), key=lambda c: -c.map_mean(eval_set))
    if not ranked:
        return []
    best = ranked[0].map_mean(eval_set)
    return [c for c in ranked if best - c.map_mean(eval_set) < sigma]


def _differing(a: Configuration, b: Configuration, keys: Sequence[str]) -> tuple[str, ...]:
    return tuple(k for k in keys if a.swept.get(k) != b.swept.get(k))


def _level(c: Configuration, factor: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(c.swept.get(k) for k in factor)


def _level_order(level: tuple[Any, ...]) -> tuple:
    return tuple(sort_key(v) for v in level)


def _pair_order(levels: tuple[tuple, tuple]) -> tuple:
    return (_level_order(levels[0]), _level_order(levels[1]))
