"""Reading a sweep file: YAML within limits, every section validated, the grid checked.

    sweep = load_sweep("sweeps/demo.yaml")          # a SweepConfig, or one ConfigError
    sweep.specs                                     # its trials, expanded once here
    sweep = sweep_from_dict(raw, source="<cli>")    # the same for an already-parsed mapping

The sections themselves are `runner.sweep.config`; the grid is expanded (`runner.sweep.grid.expand`)
as part of loading, so a bad axis or point fails before anything runs, and the resolved trials
(`sweep.specs`) are handed down: nothing after loading expands the grid again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from runner.errors import ConfigError
from runner.sweep import safe_yaml
from runner.sweep import schema as _schema
from runner.sweep.config import _FILE_KEYS, SweepConfig
from runner.sweep.grid import expand


def parse_yaml(path: Path) -> Any:
    """Read a YAML file within the limits of runner.sweep.safe_yaml; every problem is a ConfigError."""
    return safe_yaml.load_yaml(path)


def load_sweep(path: str | Path, *, allow_large: bool = False) -> SweepConfig:
    """Parse and validate a sweep file, and expand its grid once: `sweep.specs` are its trials.

    allow_large: accept a grid of more than runner.sweep.limits.MAX_TRIALS trials (`--allow-large`).
    """
    path = Path(path)
    raw = parse_yaml(path)
    return sweep_from_dict(raw, source=str(path), allow_large=allow_large)


def sweep_from_dict(raw: Any, source: str = "<sweep>", *, allow_large: bool = False) -> SweepConfig:
    """Validate an already-parsed sweep mapping; errors are prefixed with `source`."""

    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: a sweep file must be a mapping of sections (name, data, frontend, ...), "
            f"got {_schema.describe(raw)}"
        )
    try:
        for key in raw:
            if key not in _FILE_KEYS:
                raise ConfigError(
                    f"{key}: unknown section{_schema.suggest(key, _FILE_KEYS)}"
                    f" (sections: {', '.join(_FILE_KEYS)})"
                )
        sweep = _schema.build(SweepConfig, dict(raw), "")
        sweep = dataclasses.replace(sweep, source=source, raw=dict(raw), allow_large=allow_large)
        # The grid is checked by expanding it, once: the specs travel with the sweep.
        sweep = dataclasses.replace(sweep, specs=tuple(expand(sweep)))
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None
    return sweep
