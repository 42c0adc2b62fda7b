"""Fixtures of the tests of one trial (`test_trial*.py`, with `helpers.tiny_trial`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Synthetic audio and its cache, generated once for the whole session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp: MLflow's artifact folder and .specsweep/checkpoints land there. A trial test
    module uses it for every test: `pytestmark = pytest.mark.usefixtures("in_tmp")`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(False)
