"""Datasets for specsweep: manifests, Raven selection tables and the synthetic default, read
through a decode-once memory-mapped audio cache and cut into clips.

    from runner.data import DataConfig, load_dataset, train_loader, eval_loader
    ds = load_dataset(DataConfig(), sample_rate=22050, eval_sets=("test", "field"), seed=0)
    for waveform, target in train_loader(ds.train, batch_size=32, seed=0):
        ...  # waveform (32, 66150) float32, target (32, 16) float32 multi-hot
"""

from runner.data.config import DataConfig, KFoldConfig, RavenConfig, SyntheticConfig
from runner.data.datasets import Datasets, load_dataset
from runner.data.sampling import (
    EvalDataset,
    TrainDataset,
    default_num_workers,
    eval_loader,
    train_loader,
)

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
