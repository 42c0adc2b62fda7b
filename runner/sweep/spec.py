"""What one trial is: its fully resolved configuration and its place in the sweep.

    spec = TrialSpec.from_dict(json.loads(text))   # the inverse of spec.to_dict()
    spec.run_name, spec.cfg_key, spec.config.frontend.hop_length

`TrialConfig` holds every section that determines a trial's result, validated and resolved;
`cfg_key` hashes it (sorted keys, no seed), so the same configuration has the same key in any
sweep. `TrialSpec` adds the sweep, the point's position, name and seed. `to_dict`/`from_dict` are
the one serialisation of a spec: the job file a child is handed, `specsweep plan --json` and
config.yaml all use them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from frontends import FrontendConfig
from models.config import ModelConfig
from runner.data import DataConfig
from runner.errors import ConfigError
from runner.sweep import limits
from runner.sweep import schema as _schema
from runner.sweep.train_config import EvalConfig, TrainConfig


@dataclass(frozen=True)
class TrialConfig:
    """Everything that determines a trial's result, fully resolved."""

    data: DataConfig
    frontend: FrontendConfig
    model: ModelConfig
    train: TrainConfig
    eval: EvalConfig

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples as lists): what config.yaml holds and cfg_key hashes."""
        return _schema.to_plain(self)

    @classmethod
    def from_dict(cls, sections: dict[str, Any], where: str = "config") -> TrialConfig:
        """Inverse of `to_dict`, validating every section (reproduces a run from config.yaml)."""
        if not isinstance(sections, dict):
            raise ConfigError(
                f"{where}: expected a mapping of sections, got {_schema.describe(sections)}"
            )
        unknown = set(sections) - set(SECTION_CLASSES)
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(
                f"{where}: {key}: unknown section{_schema.suggest(key, SECTION_CLASSES)}"
            )
        built = {
            name: _schema.build(klass, sections.get(name), name)
            for name, klass in SECTION_CLASSES.items()
        }
        built["frontend"] = built["frontend"].resolved()
        config = cls(**built)
        limits.check_trial_sizes(
            config.data, config.frontend, config.train
        )  # an image that cannot fit in memory, computed here
        return config

    @property
    def cfg_key(self) -> str:
        """Hash of the values that determine the result. `frontend.pcen.preset` is left out: it
        only names where the five PCEN values came from, and they are all resolved into the config
        (so keys from before presets existed stay the same, and a preset equal to explicit values
        is the same configuration). config.yaml still records the preset's name."""
        plain = self.to_dict()
        plain["frontend"]["pcen"].pop("preset", None)
        canonical = json.dumps(plain, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


SECTION_CLASSES: dict[str, type] = {
    "data": DataConfig,
    "frontend": FrontendConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a grid point (configuration) and a seed."""

    sweep: str  # the sweep's name
    index: int  # 0-based position in expand()'s list (configurations x seeds)
    config_index: int  # 0-based position among configurations
    name: str  # readable, from the swept values: "w512-h128-mel-128x512"
    cfg_key: str  # hash of the resolved config (not of the seed)
    seed: int
    swept: dict[str, Any]  # this point's value of every swept key, in grid order
    config: TrialConfig

    @property
    def run_name(self) -> str:
        return f"{self.name}-s{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """This spec as JSON-safe data (the inverse is `from_dict`)."""
        return {
            "sweep": self.sweep,
            "index": self.index,
            "config_index": self.config_index,
            "name": self.name,
            "cfg_key": self.cfg_key,
            "seed": self.seed,
            "swept": self.swept,
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        """Inverse of `to_dict`; the config is validated again."""
        return cls(**{**data, "config": TrialConfig.from_dict(data["config"])})
