"""The MLflow store the report tests share: one sqlite store with every experiment of
`helpers.report_runs`, built once per test session (MLflow's sqlite set-up takes seconds)."""

from __future__ import annotations

import pytest
from helpers.report_runs import log_experiments


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """One sqlite store shared by the report tests (MLflow's sqlite set-up takes seconds)."""
    from mlflow.tracking import MlflowClient

    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    log_experiments(client, tmp)
    return {"uri": uri, "client": client, "tmp": tmp}
