"""The two servers the slow multi-node tests share: one private PostgreSQL (`pg`) and one
`specsweep server` (`mlflow_server`: a real `mlflow server` on loopback whose backend is a
database in that PostgreSQL).

Each starts when a test first asks for it and stops when the session ends, so the test files of
this folder share one of each. `pg` is runner.servers.postgres.temporary_server: installed with
apt when missing, initdb into a temp dir, a random port on 127.0.0.1, password logins only,
stopped and deleted afterwards.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from helpers.servers import MlflowServer, stop_process, wait_http

from runner.servers import postgres

SERVER_START_TIMEOUT_S = 180  # mlflow server imports a lot; this machine is shared and slow


@pytest.fixture(scope="session")
def pg():
    with postgres.temporary_server() as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server(pg, tmp_path_factory):
    """`specsweep server` with a PostgreSQL backend (database `mlflow`, password in the URL)."""
    postgres.create_database(dataclasses.replace(pg, database="mlflow"))
    backend = pg.url(with_password=True, database="mlflow")
    work = tmp_path_factory.mktemp("mlflow-server")
    port = postgres.free_port()
    log = work / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner.cli",
                "server",
                "--port",
                str(port),
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(work / "artifacts"),
                "--workers",
                "1",
            ],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the fallback SIGKILL reaches its workers
        )
    server = MlflowServer(f"http://127.0.0.1:{port}", proc, log, work / "artifacts", pg.password())
    try:
        wait_http(f"{server.uri}/health", SERVER_START_TIMEOUT_S, proc)
        yield server
    finally:
        stop_process(proc)
