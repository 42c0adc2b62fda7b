"""Multi-node with real servers (slow), the servers themselves: PostgreSQL from Debian's packages
and `specsweep server` (the `pg` and `mlflow_server` fixtures, tests/servers/conftest.py).

  * PostgreSQL is private (loopback, password logins only) and holds an Optuna store; four
    supervisors opening a fresh database at once do not race;
  * a wrong password / an unreachable database fail fast, the password masked;
  * the tracking server logs runs and artifacts (the artifacts land in its artifact directory)
    and never shows its backend password.

The sweeps that run on these servers are in tests/servers/test_multinode_sweeps.py.
Run with `make test-slow` (or `pytest -m slow tests/servers`).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.errors import UserError
from runner.servers import postgres
from runner.servers.remote import check_storage, check_tracking

pytestmark = pytest.mark.slow


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
    """The URL holds no password; libpq takes it from PGPASSWORD, as docs/multinode.md tells users."""
    import optuna

    from runner.servers.remote import engine_kwargs

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


def test_supervisors_starting_together_on_a_fresh_database(pg, tmp_path):
    """Four processes open the Optuna storage of an empty database at the same moment: Optuna
    alone races creating its tables (duplicate key on pg_type); open_rdb_storage serialises it."""
    postgres.create_database(dataclasses.replace(pg, database="race"))
    url = pg.url(with_password=True, database="race")
    script = (
        "import sys, time\n"
        "from runner.servers.remote import open_rdb_storage\n"
        "time.sleep(float(sys.argv[2]) - time.time())\n"  # all start at the same instant
        "open_rdb_storage(sys.argv[1]).engine.dispose()\n"
    )
    at = str(time.time() + 8)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url, at], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors


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
