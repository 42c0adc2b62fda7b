"""The sweep file's sections as frozen dataclasses: `SweepConfig` and the sections defined here.

    sweep = load_sweep("sweeps/merlin_part1.yaml")   # runner.sweep.load reads and validates
    sweep.frontend.hop_length, sweep.grid.axes, sweep.seeds

A sweep file has these top-level sections (every one but `name` optional):

    name       the sweep's name (the MLflow experiment and the Optuna study are named after it)
    data       runner.data.DataConfig           what audio, which splits, clip length
    frontend   frontends.FrontendConfig         waveform -> image, defaults for every trial
    model      models.ModelConfig               the timm backbone
    train      runner.sweep.train_config.TrainConfig  the training recipe
    eval       runner.sweep.train_config.EvalConfig   the evaluation sets
    grid       GridConfig                       the swept axes (see runner/sweep/grid.py)
    seeds      replicates: a list of seeds, or a count N meaning 0..N-1
    resources  ResourcesConfig                  slots, GPUs, threads
    tracking   TrackingConfig                   MLflow tracking URI and experiment
    storage    StorageConfig                    Optuna storage URL
    search     SearchConfig                     grid / random / tpe, retries, pruning

Every error is a ConfigError naming the file, the key path, the bad value and the fix.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from frontends import FrontendConfig
from models.config import ModelConfig
from runner.data import DataConfig
from runner.errors import UserError
from runner.servers.remote import check_tracking_scheme
from runner.sweep import limits
from runner.sweep.spec import TrialSpec
from runner.sweep.train_config import EvalConfig, TrainConfig


@dataclass(frozen=True)
class GridConfig:
    """The swept axes. Keys are dotted paths into the trial sections (`frontend.hop_length`).

    axes     key -> list of values; the Cartesian product of all axes
    linked   key -> {by: other key, values: {value of other key: [values of key]}}: the Merlin study ties
             image size to hop this way (see sweeps/merlin_part1.yaml)
    zip      list of {key: [values]} groups whose lists move together (one axis per group)
    exclude  list of {key: value}; points matching every key of a rule are dropped
    """

    axes: dict[str, Any] = field(default_factory=dict)
    linked: dict[str, Any] = field(default_factory=dict)
    zip: tuple[dict[str, Any], ...] = ()
    exclude: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ResourcesConfig:
    """Where trials run. On GPUs: slots = GPUs x jobs_per_gpu; on CPU: `slots` share the cores."""

    slots: int | None = None  # None: one per GPU x jobs_per_gpu, or 1 on a CPU-only machine
    jobs_per_gpu: int = 1
    gpus: tuple[int, ...] | None = None  # None: every visible GPU
    threads_per_slot: int | None = None  # None: cores // slots

    def __post_init__(self):
        if self.slots is not None and self.slots < 1:
            raise ValueError(f"slots: {self.slots} must be at least 1 (or null for automatic)")
        if self.jobs_per_gpu < 1:
            raise ValueError(f"jobs_per_gpu: {self.jobs_per_gpu} must be at least 1")
        if self.threads_per_slot is not None and self.threads_per_slot < 1:
            raise ValueError(f"threads_per_slot: {self.threads_per_slot} must be at least 1")
        if self.gpus is not None and any(g < 0 for g in self.gpus):
            raise ValueError(f"gpus: {list(self.gpus)} must be GPU indices >= 0")


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow: where runs are logged. The experiment defaults to the sweep's name."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None
    # Trained networks as MLflow PyTorch models (frontend inside; runner/tracking/logged_models.py):
    # best = the best seed of each configuration, logged when the sweep ends or the report runs.
    log_model: Literal["best", "all", "none"] = "best"
    register_as: str | None = None  # Model Registry name for the overall best model
    # Also log each model as ONNX (frontend inside) beside it: model.onnx in its extra_files.
    onnx: bool = False
    # MLflow's system metrics (CPU, memory; GPU with nvidia-ml-py) every this many seconds; 0 = off.
    system_metrics_s: float = 10.0

    def __post_init__(self):
        try:
            check_tracking_scheme(self.uri, "uri")
        except UserError as err:
            raise ValueError(str(err)) from None
        if self.system_metrics_s < 0:
            raise ValueError(
                f"system_metrics_s: {self.system_metrics_s} must be >= 0 (0 turns them off)"
            )
        if self.register_as is not None and not self.register_as.strip():
            raise ValueError("register_as: empty name; give a Model Registry name or leave it out")
        if self.onnx and self.log_model == "none":
            raise ValueError("onnx: true needs a logged model; set log_model to best or all")
        if self.register_as is not None and self.log_model == "none":
            raise ValueError(
                "register_as: needs a logged model; set log_model to best or all, or drop register_as"
            )


@dataclass(frozen=True)
class StorageConfig:
    """Optuna storage. None: a JournalStorage file under .specsweep/studies/<sweep>.journal."""

    url: str | None = None
    # A running trial's lease (runner/queue/study.py): renewed every heartbeat_s while its child runs;
    # a lease older than lease_timeout_s is a dead supervisor's, and its trial is run again.
    heartbeat_s: float = 10.0
    lease_timeout_s: float = 120.0

    def __post_init__(self):
        if self.heartbeat_s <= 0:
            raise ValueError(f"heartbeat_s: {self.heartbeat_s} must be positive")
        if self.lease_timeout_s < 3 * self.heartbeat_s:
            raise ValueError(
                f"lease_timeout_s: {self.lease_timeout_s} must be at least 3 x heartbeat_s "
                f"({3 * self.heartbeat_s:g}) so one late heartbeat does not look like a dead supervisor"
            )


@dataclass(frozen=True)
class SearchConfig:
    """How points are chosen: every grid point once, or sampled (`n_trials`) from the axes."""

    sampler: Literal["grid", "random", "tpe"] = "grid"
    n_trials: int | None = None
    pruning: bool = False
    max_retries: int = 2
    objective: Literal["map", "map_and_time"] = "map"
    seed: int | None = None  # the random/tpe sampler's seed (None: fresh each run)
    # Median pruning: a trial stops when its validation MAP at an epoch is below the median of the
    # finished trials at that epoch, once prune_startup_trials finished and after prune_warmup_epochs.
    prune_startup_trials: int = 3
    prune_warmup_epochs: int = 0

    def __post_init__(self):
        if self.pruning and self.objective != "map":
            raise ValueError(
                "pruning: median pruning needs one objective; set search.objective: map "
                "or search.pruning: false"
            )
        if self.sampler != "grid" and self.n_trials is None:
            raise ValueError(
                f"n_trials: sampler '{self.sampler}' needs n_trials (how many points to sample)"
            )
        if self.n_trials is not None and self.n_trials < 1:
            raise ValueError(f"n_trials: {self.n_trials} must be at least 1")
        if self.max_retries < 0:
            raise ValueError(f"max_retries: {self.max_retries} must be 0 or more")


@dataclass(frozen=True)
class SweepConfig:
    """A whole sweep file, validated. `source` is the file it came from (for messages)."""

    name: str
    data: DataConfig = field(default_factory=DataConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    seeds: tuple[int, ...] | int = (0,)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    source: str = "<sweep>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # --allow-large: a grid over runner.sweep.limits.MAX_TRIALS trials is meant (not a file key)
    allow_large: bool = field(default=False, compare=False)
    # Every trial (configurations x seeds, resolved and checked), expanded once by
    # runner.sweep.load while the file is validated; everything after loading uses these.
    specs: tuple[TrialSpec, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise ValueError(
                f"name: {self.name!r} is not a valid sweep name; use letters, digits, '-', '_' "
                "or '.', starting with a letter or digit"
            )
        seeds = self.seeds
        limits.check_seed_count(seeds if isinstance(seeds, int) else len(seeds))
        if isinstance(seeds, int):
            if seeds < 1:
                raise ValueError(f"seeds: {seeds} must be a count >= 1 or a list of seeds")
            seeds = tuple(range(seeds))
        if not seeds:
            raise ValueError("seeds: the list is empty; give at least one seed, e.g. [0]")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds: {list(seeds)} repeats a seed; list each seed once")
        bad = next((x for x in seeds if not 0 <= x < 2**64), None)
        if bad is not None:  # torch and numpy take seeds in [0, 2^64)
            raise ValueError(
                f"seeds: {bad} is outside 0 .. 2**64 - 1 (torch and numpy seeds are unsigned "
                "64-bit); use seeds like [0, 1, 2]"
            )
        object.__setattr__(self, "seeds", tuple(seeds))

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or self.name


# Keys of SweepConfig a file may set (source and raw are filled in by the loader).
_FILE_KEYS = tuple(
    f.name
    for f in dataclasses.fields(SweepConfig)
    if f.name not in ("source", "raw", "allow_large", "specs")
)
