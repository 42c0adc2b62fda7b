"""The tiny sweep's trial sections, shared by the benchmarks and the tests (not a benchmark).

A 2x2 grid (scale x window) of a tiny timm model on tiny synthetic audio: a sweep that spends its
time on the queue, the supervisors and the stores, not on training. benchmarks/bench_sweep.py
times it (with more clips, `n_train=64, n_test=32`, the size its recorded figures ran);
tests/helpers/tiny_sweep.py writes it into the end-to-end tests' sweep files.

    raw = {"name": "tiny", **tiny_sections(data_dir, epochs=2), "resources": {"slots": 2}}

It lives here, not in `runner`, because it is a fixture of the two dev-only trees, and the
tests may import from benchmarks/ (both sit beside the package), while the benchmarks stay
free of the tests' helpers.
"""

from __future__ import annotations

from pathlib import Path

TINY_GRID = {"axes": {"frontend.scale": ["mel", "linear"], "frontend.win_length": [256, 512]}}


def tiny_sections(data_dir: Path, *, epochs: int = 1, n_train: int = 48, n_test: int = 24) -> dict:
    """data/frontend/model/train/eval/grid sections; the audio and its cache live in data_dir."""
    return {
        "data": {
            "kind": "synthetic",
            "clip_s": 1.5,
            "cache_dir": str(data_dir / "cache"),
            "synthetic": {
                "n_species": 4,
                "n_train": n_train,
                "n_test": n_test,
                "n_field": 8,
                "output_dir": str(data_dir / "synthetic"),
            },
        },
        "frontend": {
            "sample_rate": 22050,
            "win_length": 512,
            "hop_length": 256,
            "scale": "mel",
            "n_mels": 32,
            "image_size": [32, 64],
        },
        "model": {"name": "mobilenetv3_small_050", "pretrained": "none"},
        "train": {
            "epochs": epochs,
            "batch_size": 16,
            # A fixed recipe (the tests' and the recorded figures'), whatever the defaults.
            "optimizer": "sgd",
            "lr": 0.1,
            "weight_decay": 0.0001,
            "schedule": "piecewise",
            "milestones": [100],
            "num_workers": 0,
        },
        "eval": {"sets": ["test"]},
        "grid": TINY_GRID,
    }
