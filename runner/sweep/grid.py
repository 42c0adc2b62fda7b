"""Grid expansion: a sweep's axes -> fully resolved, named, hashed trial specs.

    specs = expand(load_sweep("sweeps/merlin_part1.yaml"))   # 12 configurations x seeds
    specs[0].name, specs[0].cfg_key, specs[0].config.frontend.hop_length

A grid is the Cartesian product of `grid.axes`, times each `grid.zip` group (lists that move
together), fanned out by `grid.linked` axes (values chosen per value of another axis), minus the
points that match a `grid.exclude` rule, times the seeds. Seeds are the outer loop, so the first
pass over the queue runs every configuration once before any replicate.

Each point's config is the sweep's sections with the point's values written in, validated again as
a whole (so `hop_length > win_length` at one point is an error that names the point), and resolved
(`FrontendConfig.resolved()` records the padded n_fft). `cfg_key` hashes the resolved config with
sorted keys and without the seed: the same configuration has the same key in any sweep.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError
from runner.sweep import limits
from runner.sweep import schema as _schema
from runner.sweep.spec import SECTION_CLASSES, TrialConfig, TrialSpec

if TYPE_CHECKING:
    from runner.sweep.config import SweepConfig


# --------------------------------------------------------------------------- key paths


def all_keys() -> list[str]:
    """Every dotted key a grid axis may name (for did-you-mean suggestions)."""
    keys: list[str] = []

    def walk(klass: type, prefix: str) -> None:
        hints = _schema.type_hints(klass)
        for f in dataclasses.fields(klass):
            sub = _schema._dataclass_in(hints[f.name])
            if sub is not None:
                walk(sub, f"{prefix}{f.name}.")
            else:
                keys.append(f"{prefix}{f.name}")

    for name, klass in SECTION_CLASSES.items():
        walk(klass, f"{name}.")
    return keys


def _check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or "." not in key:
        raise ConfigError(
            f"{where}: {key!r} is not a key path; name the key with its section, "
            "e.g. 'frontend.hop_length'"
        )
    section, *rest = key.split(".")
    if section not in SECTION_CLASSES:
        hint = " (seeds are replicates: set them with 'seeds:')" if section == "seeds" else ""
        raise ConfigError(
            f"{where}: '{key}' cannot be swept; grid keys start with one of "
            f"{', '.join(SECTION_CLASSES)}{hint}{_schema.suggest(key, all_keys())}"
        )
    ok, _ = _schema.key_exists(SECTION_CLASSES[section], rest)
    if not ok:
        raise ConfigError(f"{where}: '{key}' names no config key{_schema.suggest(key, all_keys())}")
    return key


def _check_values(values: Any, where: str, key: str) -> list:
    if not isinstance(values, (list, tuple)):
        raise ConfigError(
            f"{where}: expected a list of values, got {_schema.describe(values)}; write "
            f"[{json.dumps(values)}], or set {key} in its section if it does not vary"
        )
    if not values:
        raise ConfigError(f"{where}: the axis is empty; give at least one value")
    return list(values)


# --------------------------------------------------------------------------- points


def _same(a: Any, b: Any) -> bool:
    """Equality for grid values as YAML gives them (lists vs tuples; mapping keys as text)."""
    norm_a, norm_b = _schema.to_plain(a), _schema.to_plain(b)
    return norm_a == norm_b or str(norm_a) == str(norm_b)


def points(sweep: SweepConfig) -> list[dict[str, Any]]:
    """The grid's points in order: each a {key: value} dict of every swept key."""
    grid = sweep.grid
    seen: set[str] = set()

    def claim(key: str, where: str) -> str:
        _check_key(key, where)
        if key in seen:
            raise ConfigError(f"{where}: '{key}' is swept twice; keep it in one place of the grid")
        seen.add(key)
        return key

    # Each factor is (keys, list of value tuples); the product of factors gives the points.
    factors: list[tuple[tuple[str, ...], list[tuple]]] = []
    for key, values in grid.axes.items():
        where = f"grid.axes.{key}"
        claim(key, where)
        factors.append(((key,), [(v,) for v in _check_values(values, where, key)]))
    for g, group in enumerate(grid.zip):
        where = f"grid.zip[{g}]"
        if not group:
            raise ConfigError(f"{where}: the group is empty; give keys with lists of equal length")
        keys = tuple(claim(k, f"{where}.{k}") for k in group)
        lists = [_check_values(group[k], f"{where}.{k}", k) for k in keys]
        if len({len(v) for v in lists}) != 1:
            lengths = ", ".join(f"{k}: {len(v)}" for k, v in zip(keys, lists))
            raise ConfigError(
                f"{where}: the lists must have equal lengths to move together ({lengths})"
            )
        factors.append((keys, list(zip(*lists))))

    n_seeds = len(sweep.seeds)
    sizes = [len(rows) for _, rows in factors]
    n_points = math.prod(sizes)
    limits.check_trial_count(
        n_points * n_seeds,
        sweep.allow_large,
        f"{' x '.join(map(str, sizes)) or 1} grid points x {n_seeds} seed{'s' if n_seeds != 1 else ''}",
    )
    result: list[dict[str, Any]] = [{}]
    for keys, rows in factors:
        result = [{**p, **dict(zip(keys, row))} for p in result for row in rows]

    for key, spec in grid.linked.items():
        where = f"grid.linked.{key}"
        claim(key, where)
        result = _fan_out_linked(result, key, spec, where, seen, sweep)

    for r, rule in enumerate(grid.exclude):
        where = f"grid.exclude[{r}]"
        if not isinstance(rule, dict) or not rule:
            raise ConfigError(
                f"{where}: a rule is a mapping of swept keys to values, got {_schema.describe(rule)}"
            )
        for k in rule:
            if k not in seen:
                raise ConfigError(
                    f"{where}.{k}: not a swept key, so the rule can never match a point"
                    f"{_schema.suggest(k, sorted(seen))}"
                )
    kept = [p for p in result if not any(_matches(p, rule) for rule in grid.exclude)]
    if not kept:
        raise ConfigError(
            f"grid: the grid expands to zero trials ({len(result)} points, all removed by "
            "grid.exclude); loosen or remove the exclude rules"
        )
    return kept


def _fan_out_linked(
    result: list[dict], key: str, spec: Any, where: str, seen: set[str], sweep: SweepConfig
) -> list[dict]:
    linked = _schema.build(LinkedAxisSpec, spec, where)
    if linked.by not in seen:
        others = sorted(seen - {key})  # never suggest linking the key to itself
        choices = (
            f"link to one of: {', '.join(others)}"
            if others
            else "declare the axis it follows under grid.axes"
        )
        raise ConfigError(
            f"{where}.by: '{linked.by}' is not an axis declared before it"
            f"{_schema.suggest(linked.by, others)}; {choices}"
        )
    if not linked.values:
        raise ConfigError(
            f"{where}.values: empty; give the values of {key} for each value of {linked.by}"
        )
    used: set[str] = set()
    out = []
    fanned = 0  # counted before any point is built
    for p in result:
        k = next((k for k in linked.values if _same(k, p[linked.by])), None)
        values = linked.values.get(k) if k is not None else None
        fanned += len(values) if isinstance(values, (list, tuple)) else 1
    n_seeds = len(sweep.seeds)
    limits.check_trial_count(
        fanned * n_seeds,
        sweep.allow_large,
        f"{fanned} grid points (with {key} fanned out) x {n_seeds} seed{'s' if n_seeds != 1 else ''}",
    )
    for p in result:
        matches = [k for k in linked.values if _same(k, p[linked.by])]
        if not matches:
            raise ConfigError(
                f"{where}.values: no entry for {linked.by} = {json.dumps(_schema.to_plain(p[linked.by]))}; "
                f"add '{json.dumps(_schema.to_plain(p[linked.by]))}: [...]' under values"
            )
        used.add(str(matches[0]))
        values = _check_values(linked.values[matches[0]], f"{where}.values.{matches[0]}", key)
        out.extend({**p, key: v} for v in values)
    unused = [str(k) for k in linked.values if str(k) not in used]
    if unused:
        raise ConfigError(
            f"{where}.values: {', '.join(unused)} matches no value of {linked.by}; "
            "remove it or add that value to the axis"
        )
    return out


@dataclass(frozen=True)
class LinkedAxisSpec:
    by: str
    values: dict[str, Any]


def grid_warnings(sweep: SweepConfig) -> list[str]:
    """What is legal but likely a typo: `grid.exclude` rules that match no point of the grid
    (a value the axis does not have). `--strict` makes each an error."""
    if not sweep.grid.exclude:
        return []
    import dataclasses

    everything = points(
        dataclasses.replace(sweep, grid=dataclasses.replace(sweep.grid, exclude=()))
    )
    return [
        f"grid.exclude[{r}]: matches no point of the grid ({_schema.describe(rule)}); check its "
        "values against the axes, or remove the rule"
        for r, rule in enumerate(sweep.grid.exclude)
        if not any(_matches(p, rule) for p in everything)
    ]


def _matches(point: dict[str, Any], rule: dict[str, Any]) -> bool:
    # Values are compared whole: image_size [128, 512] is one value, not two options.
    return all(_same(point[key], wanted) for key, wanted in rule.items())


# --------------------------------------------------------------------------- names


_PREFIX = {
    "frontend.win_length": "w",
    "frontend.hop_length": "h",
    "frontend.n_fft": "nfft",
    "frontend.n_mels": "b",
    "frontend.sample_rate": "sr",
    "frontend.f_min": "fmin",
    "frontend.f_max": "fmax",
    "frontend.power": "pow",
    "frontend.repeat_channels": "rep",
    "data.clip_s": "c",
    "train.lr": "lr",
    "train.batch_size": "bs",
    "train.epochs": "ep",
}


def _label(key: str, value: Any) -> str:
    """A short, readable label of one swept value: w512, h128, mel, 128x512, db+pcen, c3s."""
    leaf = key.rsplit(".", 1)[-1]
    if key.endswith("image_size"):
        return "noresize" if value is None else "x".join(str(v) for v in value)
    if isinstance(value, bool):
        return leaf.replace("_", "") if value else f"no{leaf.replace('_', '')}"
    if isinstance(value, (list, tuple)):
        return "+".join(str(v) for v in value)
    if isinstance(value, float):
        value = f"{value:g}"
    if value is None:
        value = "auto"
    if key == "data.clip_s":
        return f"c{value}s"
    if key in _PREFIX:
        return f"{_PREFIX[key]}{value}"
    if isinstance(value, str):
        return value
    return f"{leaf.replace('_', '')}{value}"


def point_name(point: dict[str, Any]) -> str:
    """The point's readable name: its values' labels joined by '-' ("w512-h128-mel-128x512").

    When the point sets `frontend.compression`, its settings of a compression it does not use
    (`frontend.pcen.*` for dB), its false flags and its `repeat_channels` are left out, so a
    frontend axis reads "db", "pcen", "pcen-perband", "db+pcen+exp" (sweeps/merlin_part2.yaml);
    a true flag is prefixed with its compression ("pcen.perband") when the point uses both
    learnable ones (exp and pcen).
    """
    used = _compressions_in(point)
    parts = []
    for key, value in point.items():
        sub = _compression_section(key)
        if used is not None and key == "frontend.repeat_channels":
            continue  # implied: a single compression fills the channels, a list has one each
        if used is None or sub is None:
            parts.append(_label(key, value))
        elif sub in used and value is not False:
            label = _label(key, value)
            ambiguous = {"exp", "pcen"} <= used
            parts.append(f"{sub}.{label}" if ambiguous else label)
    return "-".join(parts) or "base"


# Compressions with a settings section of their own under `frontend.` (FrontendConfig fields).
_COMPRESSION_SECTIONS = ("db", "exp", "pcen")


def _compressions_in(point: dict[str, Any]) -> set[str] | None:
    """The compression names a point sets, or None when it does not sweep the compression."""
    value = point.get("frontend.compression")
    if value is None:
        return None
    return {value} if isinstance(value, str) else {str(v) for v in value}


def _compression_section(key: str) -> str | None:
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "frontend" and parts[1] in _COMPRESSION_SECTIONS:
        return parts[1]
    return None


# --------------------------------------------------------------------------- resolution


def _set(tree: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = {}
            tree[part] = child
        tree = child
    tree[leaf] = value


def resolve(sweep: SweepConfig, point: dict[str, Any]) -> TrialConfig:
    """The sweep's trial sections with `point`'s values written in, validated and resolved."""
    sections = {name: copy.deepcopy(sweep.raw.get(name) or {}) for name in SECTION_CLASSES}
    for key, value in point.items():
        _set(sections, key, copy.deepcopy(value))
    try:
        return TrialConfig.from_dict(sections)
    except ConfigError as err:
        raise ConfigError(
            f"grid point {point_name(point)} ({_describe_point(point)}): {err}"
        ) from None


def _describe_point(point: dict[str, Any]) -> str:
    return (
        ", ".join(f"{k}={json.dumps(_schema.to_plain(v))}" for k, v in point.items())
        or "no swept keys"
    )


def expand(sweep: SweepConfig) -> list[TrialSpec]:
    """Every trial of the sweep: configurations x seeds (seeds outer), fully resolved."""
    pts = points(sweep)
    configs = [resolve(sweep, p) for p in pts]
    keys = [c.cfg_key for c in configs]
    names = [point_name(p) for p in pts]
    for i, (name, key) in enumerate(zip(names, keys)):
        if names.count(name) > 1:  # two points differ only in a way the labels hide
            names[i] = f"{name}-{key[:4]}"
    dup = [k for k in set(keys) if keys.count(k) > 1]
    if dup:
        clash = [names[i] for i, k in enumerate(keys) if k == dup[0]]
        raise ConfigError(
            f"grid: points {', '.join(clash)} resolve to the same configuration (cfg_key {dup[0]}); "
            "a swept value equals the default or another point; remove the duplicate value"
        )
    specs = []
    for s, seed in enumerate(sweep.seeds):
        for c, (point, config, name, key) in enumerate(zip(pts, configs, names, keys)):
            specs.append(
                TrialSpec(
                    sweep=sweep.name,
                    index=s * len(pts) + c,
                    config_index=c,
                    name=name,
                    cfg_key=key,
                    seed=seed,
                    swept=dict(point),
                    config=config,
                )
            )
    return specs


def check_grid(sweep: SweepConfig) -> None:
    """Validate the grid by expanding it (cheap: no data or model is touched)."""
    expand(sweep)


def find(
    specs: list[TrialSpec],
    *,
    name: str | None = None,
    index: int | None = None,
    seed: int | None = None,
    flag: str = "--name",
) -> TrialSpec:
    """Pick one spec by name (and seed) or by index; a UserError lists the valid choices."""
    if index is not None:
        if not 0 <= index < len(specs):
            raise ConfigError(
                f"--index {index}: the sweep has {len(specs)} trials (0..{len(specs) - 1})"
            )
        return specs[index]
    matches = [s for s in specs if s.name == name or s.run_name == name]
    if seed is not None:
        matches = [s for s in matches if s.seed == seed]
    if not matches:
        names = sorted({s.name for s in specs})
        raise ConfigError(
            f"{flag} {name}: no such trial{_schema.suggest(name, names)} (run `specsweep plan` to list them)"
        )
    return matches[0]
