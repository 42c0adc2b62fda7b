"""Multi-node with real servers (slow): PostgreSQL from Debian's packages and `specsweep server`.

The module starts one private PostgreSQL (runner.postgres.temporary_server: installed with apt when
missing, initdb into a temp dir, a random port on 127.0.0.1, password logins only, stopped and
deleted afterwards) and one `specsweep server` (a real `mlflow server` on loopback whose backend is
a database in that PostgreSQL), then:

  * logs runs and artifacts through the server (the artifacts land in its artifact directory);
  * checks a wrong password / an unreachable database / an unreachable tracking server fail fast
    with exit 2 and no password in any output;
  * runs two supervisors on one sweep (two "nodes"), and SIGKILLs one mid-trial.

Run with `make test-slow` (or `pytest -m slow tests/test_multinode_servers.py`).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runner import postgres
from runner.errors import UserError
from runner.remote import check_storage, check_tracking

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_TIMEOUT_S = 180  # mlflow server imports a lot; this machine is shared and slow


# --- fixtures: the two servers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg():
    with postgres.temporary_server() as server:
        yield server


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def stop_process(proc: subprocess.Popen, timeout_s: float = 30) -> int:
    """SIGTERM (a clean shutdown), then SIGKILL the whole group if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


@dataclasses.dataclass
class MlflowServer:
    uri: str
    proc: subprocess.Popen
    log: Path
    artifacts: Path
    backend_password: str


@pytest.fixture(scope="module")
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


# --- PostgreSQL ----------------------------------------------------------------------------------


def test_postgres_is_private_and_password_only(pg, monkeypatch):
    """Loopback only, and a login without the password is refused."""
    import psycopg

    assert pg.host == "127.0.0.1"
    assert Path(pg.root).parent.name.startswith("specsweep-pg-")  # a temp dir, deleted afterwards
    conf = subprocess.run(
        ["psql", pg.url(with_password=True), "-Atc", "SHOW listen_addresses"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert conf.stdout.strip() == "127.0.0.1"
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")  # no ~/.pgpass either
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(pg.url(), connect_timeout=5)


def test_optuna_rdb_storage_on_postgres_with_password_from_env(pg, monkeypatch):
    """The URL holds no password; libpq takes it from PGPASSWORD, as the README tells users."""
    import optuna

    from runner.remote import engine_kwargs

    monkeypatch.setenv("PGPASSWORD", pg.password())
    url = pg.url()
    check_storage(url)
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url))
    study = optuna.create_study(study_name="smoke", storage=storage, load_if_exists=True)
    study.enqueue_trial({"x": 1.0})
    trial = study.ask()
    study.tell(trial, 0.5)
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
    storage.engine.dispose()


def test_wrong_password_and_unreachable_database_are_quick_masked_errors(pg):
    wrong = dataclasses.replace(pg).url().replace("specsweep@", "specsweep:Not-The-Pw-123@")
    start = time.monotonic()
    with pytest.raises(UserError, match="wrong user name or password") as info:
        check_storage(wrong)
    assert time.monotonic() - start < 10
    assert "Not-The-Pw-123" not in str(info.value) and pg.password() not in str(info.value)

    stopped = postgres.free_port()  # nobody listens there
    with pytest.raises(UserError, match="unreachable") as info:
        check_storage(pg.url(with_password=True).replace(f":{pg.port}/", f":{stopped}/"))
    assert pg.password() not in str(info.value)


# --- MLflow server -------------------------------------------------------------------------------


def test_tracking_server_logs_runs_and_artifacts(mlflow_server, tmp_path):
    """A client on "another node" logs a run; params and metrics go to PostgreSQL, artifacts to
    the server's artifact directory (uploaded over HTTP: no shared filesystem needed)."""
    import mlflow

    check_tracking(mlflow_server.uri, environ={})
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.uri)
    experiment_id = client.create_experiment("multinode-smoke")
    run = client.create_run(experiment_id, run_name="w512-h128-s0")
    client.log_param(run.info.run_id, "frontend.win_length", 512)
    client.log_metric(run.info.run_id, "map_test", 0.5, step=1)
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    client.log_artifact(run.info.run_id, str(tmp_path / "config.yaml"))
    client.set_terminated(run.info.run_id)

    stored = list(mlflow_server.artifacts.rglob("config.yaml"))
    assert len(stored) == 1 and stored[0].read_text() == "seed: 0\n"
    found = client.search_runs([experiment_id], "params.`frontend.win_length` = '512'")
    assert [r.info.status for r in found] == ["FINISHED"]


def test_tracking_server_output_never_shows_the_backend_password(mlflow_server):
    output = mlflow_server.log.read_text()
    assert "backend store: postgresql://specsweep:***@127.0.0.1" in output
    assert mlflow_server.backend_password not in output
    # Not on the command line either (visible to every user in `ps`).
    cmdline = Path(f"/proc/{mlflow_server.proc.pid}/cmdline").read_bytes().decode()
    assert mlflow_server.backend_password not in cmdline
