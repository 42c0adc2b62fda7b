"""Datasets for specsweep: manifests, Raven selection tables and the synthetic default, read
through a decode-once memory-mapped audio cache and cut into clips.

    from runner.data import DataConfig, load_dataset, train_loader, eval_loader
    ds = load_dataset(DataConfig(), sample_rate=22050, eval_sets=("test", "field"), seed=0)
    for waveform, target in train_loader(ds.train, batch_size=32, seed=0):
        ...  # waveform (32, 66150) float32, target (32, 16) float32 multi-hot

The names are imported on first use, so the config classes (what a sweep file validates
against) come without torch or the audio libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# name -> the submodule that defines it
_EXPORTS = {
    "DataConfig": "config",
    "KFoldConfig": "config",
    "RavenConfig": "config",
    "SyntheticConfig": "config",
    "Datasets": "datasets",
    "load_dataset": "datasets",
    "EvalDataset": "sampling",
    "TrainDataset": "sampling",
    "default_num_workers": "sampling",
    "eval_loader": "sampling",
    "train_loader": "sampling",
}

__all__ = [
    "DataConfig",
    "Datasets",
    "EvalDataset",
    "KFoldConfig",
    "RavenConfig",
    "SyntheticConfig",
    "TrainDataset",
    "default_num_workers",
    "eval_loader",
    "load_dataset",
    "train_loader",
]

if TYPE_CHECKING:
    from runner.data.config import DataConfig, KFoldConfig, RavenConfig, SyntheticConfig
    from runner.data.datasets import Datasets, load_dataset
    from runner.data.sampling import (
        EvalDataset,
        TrainDataset,
        default_num_workers,
        eval_loader,
        train_loader,
    )


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'runner.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"runner.data.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
