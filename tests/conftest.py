"""Fixtures shared by several test packages (pytest finds them here; tests only name them).

`tiny_data` and `tiny_sweep`: the synthetic audio of the tiny end-to-end sweeps, generated once
per session, and a writer of tiny sweep files over it (tests/helpers/tiny_sweep.py).
`mlflow_template`: an MLflow SQLite store whose tables exist already, for tests to copy.
Fixtures used by one test file stay in that file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.tiny_sweep import write_tiny_sweep


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The tiny sweeps' synthetic audio and its cache, generated once, so that the sweeps' child
    processes (and the supervisors of several "nodes") only read it."""
    from runner.data import load_dataset
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep

    tmp = tmp_path_factory.mktemp("tiny-data")
    spec = expand(load_sweep(write_tiny_sweep(tmp, tmp, name="data")))[0]
    load_dataset(spec.config.data, spec.config.frontend.sample_rate, ("test",), seed=0)
    return tmp


@pytest.fixture
def tiny_sweep(tiny_data) -> Callable[..., Path]:
    """`tiny_sweep(folder, name=..., epochs=..., ...)` writes a tiny sweep over `tiny_data` and
    returns its path; the options are `write_tiny_sweep`'s."""
    return functools.partial(write_tiny_sweep, data_dir=tiny_data)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables, created once (that takes seconds): a test copies
    it to its own folder (`shutil.copy`); the sweep creates its experiment there."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates the tables
    return path
