"""The tiny sweeps the end-to-end tests run (not a test module).

A 2x2 grid of a tiny model on tiny synthetic data: the tests spend their time on the queue, the
supervisors and the stores, not on training. `tiny_sections` gives the trial sections (data,
frontend, model, train, eval, grid); `write_tiny_sweep` adds a name, resources, stores and retries
and writes the sweep file. Tests take it through the `tiny_sweep` fixture (tests/conftest.py),
which points it at the synthetic audio generated once per session.
"""

from __future__ import annotations

from pathlib import Path

import yaml

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
            "optimizer": "sgd",  # the tests' recipe, whatever the defaults
            "lr": 0.1,
            "weight_decay": 0.0001,
            "schedule": "piecewise",
            "milestones": [100],
            "num_workers": 0,
        },
        "eval": {"sets": ["test"]},
        "grid": TINY_GRID,
    }


def write_tiny_sweep(
    folder: Path,
    data_dir: Path,
    *,
    name: str = "e2e",
    epochs: int = 1,
    grid: dict | None = None,
    slots: int = 2,
    threads_per_slot: int | None = None,
    max_retries: int = 1,
    search: dict | None = None,
    local_tracking: bool = True,
    storage: dict | None = None,
) -> Path:
    """Write `folder/<name>.yaml` (creating folder) and return its path.

    grid: replaces TINY_GRID. search: keys added to `search` beside `max_retries`. local_tracking:
    an MLflow SQLite store in `folder/mlflow.db`; False leaves `tracking` out, for tests that
    name a tracking server on the command line or in the environment. storage: the `storage`
    section (none by default: the local journal). Tests that stop a trial midway give it more
    epochs, so it is still training when the signal lands (a 1-epoch trial takes seconds).
    """
    resources: dict = {"slots": slots}
    if threads_per_slot is not None:
        resources["threads_per_slot"] = threads_per_slot
    raw = {
        "name": name,
        **tiny_sections(data_dir, epochs=epochs),
        "grid": grid or TINY_GRID,
        "resources": resources,
    }
    if local_tracking:
        raw["tracking"] = {"uri": f"sqlite:///{folder / 'mlflow.db'}"}
    if storage is not None:
        raw["storage"] = storage
    raw["search"] = {"max_retries": max_retries, **(search or {})}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
