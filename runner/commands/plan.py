"""`specsweep plan SWEEP.yaml`: the expanded grid as a table (or JSON), without running anything.

specsweep plan sweeps/merlin_part1.yaml
specsweep plan sweeps/merlin_part1.yaml --json
specsweep plan sweeps/merlin_part1.yaml --show w512-h128-mel-128x512
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.sweep import schema as _schema
from runner.sweep.datacheck import WARNING, strict
from runner.sweep.grid import expand, find, grid_warnings
from runner.sweep.load import load_sweep
from runner.sweep.spec import TrialSpec


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plan",
        help="list the trials a sweep file expands to",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep", metavar=SWEEP_METAVAR, help="the sweep file, e.g. sweeps/merlin_part1.yaml"
    )
    parser.add_argument(
        "--check-data",
        action="store_true",
        help="also load every dataset the trials need (builds the audio cache), as a sweep does first",
    )
    parser.add_argument(
        "--allow-large",
        action="store_true",
        help="accept a grid of more than 100,000 trials (refused by default as a likely typo)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings (exclude rules that match nothing, labels spelled two ways) as errors",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument(
        "--json", action="store_true", help="print the trials as JSON, one object each"
    )
    out.add_argument(
        "--show", metavar="NAME", help="print one configuration's resolved config as YAML"
    )
    return parser


def command(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep, allow_large=args.allow_large)
    specs = expand(sweep)
    lines = [f"{WARNING}{args.sweep}: {w}" for w in grid_warnings(sweep)]
    if args.check_data:
        from runner.sweep.datacheck import check_data

        lines += check_data(specs)
    strict(lines, args.strict)
    for line in lines:
        print(line, file=sys.stderr if args.json or args.show else sys.stdout)
    if args.show:
        spec = find(specs, name=args.show, flag="--show")
        print(yaml.safe_dump(spec.config.to_dict(), sort_keys=False), end="")
        return 0
    if args.json:
        print(json.dumps([spec_record(s) for s in specs], indent=2))
        return 0
    print(format_table(specs))
    n_configs = len({s.cfg_key for s in specs})
    n_seeds = len(sweep.seeds)
    print(
        f"\n{sweep.name}: {n_configs} configurations x {n_seeds} seed{'s' if n_seeds != 1 else ''}"
        f" = {len(specs)} trials"
    )
    return 0


# What `--json` prints of each trial: `TrialSpec.to_dict` without the sweep's name and the
# resolved config (`--show NAME` prints that), in this order.
JSON_KEYS = ("index", "config_index", "name", "cfg_key", "seed", "swept")


def spec_record(spec: TrialSpec) -> dict:
    data = spec.to_dict()
    return {key: data[key] for key in JSON_KEYS}


def format_table(specs: list[TrialSpec]) -> str:
    """One row per configuration: #, name, one column per swept key, cfg_key, seeds."""
    configs: dict[str, list[TrialSpec]] = {}
    for spec in specs:
        configs.setdefault(spec.cfg_key, []).append(spec)
    keys = list(specs[0].swept)
    header = ["#", "name", *keys, "cfg_key", "seeds"]
    rows = []
    for group in configs.values():
        first = group[0]
        values = [_cell(first.swept[k]) for k in keys]
        seeds = ",".join(str(s.seed) for s in group)
        rows.append([str(first.config_index), first.name, *values, first.cfg_key, seeds])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value) -> str:
    value = _schema.to_plain(value)
    if isinstance(value, list):
        return (
            "x".join(map(str, value))
            if all(isinstance(v, int) for v in value)
            else ",".join(map(str, value))
        )
    return "null" if value is None else str(value)
