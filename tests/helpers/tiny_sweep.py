"""The trial sections of the tiny sweeps the end-to-end tests run (not a test module).

A 2x2 grid of a tiny model on tiny synthetic data: the tests spend their time on the queue, the
supervisors and the stores, not on training. Each test adds its own name, resources and stores.
"""

from __future__ import annotations

from pathlib import Path

TINY_GRID = {"axes": {"frontend.scale": ["mel", "linear"], "frontend.win_length": [256, 512]}}


def tiny_sections(data_dir: Path, *, epochs: int = 1) -> dict:
    """data/frontend/model/train/eval/grid sections; the audio and its cache live in data_dir."""
    return {
        "data": {
            "kind": "synthetic",
            "clip_s": 1.5,
            "cache_dir": str(data_dir / "cache"),
            "synthetic": {
                "n_species": 4,
                "n_train": 48,
                "n_test": 24,
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
            "lr": 0.1,
            "milestones": [100],
            "num_workers": 0,
        },
        "eval": {"sets": ["test"]},
        "grid": TINY_GRID,
    }
