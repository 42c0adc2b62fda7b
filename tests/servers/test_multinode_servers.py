"""Multi-node with real servers (slow): PostgreSQL from Debian's packages and `specsweep server`.

The module starts one private PostgreSQL (runner.servers.postgres.temporary_server: installed with apt when
missing, initdb into a temp dir, a random port on 127.0.0.1, password logins only, stopped and
deleted afterwards) and one `specsweep server` (a real `mlflow server` on loopback whose backend is
a database in that PostgreSQL), then:

  * logs runs and artifacts through the server (the artifacts land in its artifact directory);
  * checks a wrong password / an unreachable database / an unreachable tracking server fail fast
    with exit 2 and no password in any output;
  * runs two supervisors on one sweep (two "nodes"), and SIGKILLs one mid-trial.

Run with `make test-slow` (or `pytest -m slow tests/servers/test_multinode_servers.py`).
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
from helpers.tiny_sweep import tiny_sections

from runner.errors import UserError
from runner.servers import postgres
from runner.servers.remote import check_storage, check_tracking

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
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


# --- supervisors on two "nodes" ------------------------------------------------------------------
#
# The supervisors run in their own working directories (node1/, node2/), as on two machines that
# share only the two URLs, or in one (a shared filesystem). The synthetic audio is generated once beforehand (absolute
# paths in the sweep file) so the tests spend their time on the queue, not on data.

SPECSWEEP = str(Path(sys.executable).with_name("specsweep"))


def tiny_sweep(
    path: Path, data_dir: Path, name: str, max_retries: int = 1, epochs: int = 1
) -> Path:
    """A 2x2 grid, 1 epoch, tiny model, tiny synthetic data, one slot per supervisor.

    The tests that stop a trial midway give it more epochs, so it is still training when the
    signal lands (a 1-epoch trial here takes seconds and may finish first)."""
    import yaml

    raw = {
        "name": name,
        **tiny_sections(data_dir, epochs=epochs),
        "resources": {"slots": 1, "threads_per_slot": 1},
        # Same-host deaths are seen at once (the lease's pid is gone); the timeout is for hosts.
        "storage": {"heartbeat_s": 2.0, "lease_timeout_s": 60.0},
        "search": {"max_retries": max_retries},
    }
    path.mkdir(parents=True, exist_ok=True)
    sweep_file = path / f"{name}.yaml"
    sweep_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    return sweep_file


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    from runner.data import load_dataset
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep

    tmp = tmp_path_factory.mktemp("multinode-data")
    spec = expand(load_sweep(tiny_sweep(tmp, tmp, "data")))[0]
    load_dataset(spec.config.data, spec.config.frontend.sample_rate, ("test",), seed=0)
    return tmp


def node_env(pg, **extra) -> dict[str, str]:
    """A node's environment: the PostgreSQL password from PGPASSWORD, never in a URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECSWEEP_")}
    env.update(PGPASSWORD=pg.password(), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", **extra)
    return env


def start_supervisor(node: Path, sweep_file: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [SPECSWEEP, "sweep", str(sweep_file), "--no-live", *extra],
        cwd=node,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout_s: float = 600) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout_s)
    return proc.returncode, out


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def optuna_trials(pg, name: str) -> list:
    import optuna

    storage = optuna.storages.RDBStorage(pg.url(with_password=True))
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials()
    finally:
        storage.engine.dispose()


def trial_runs(server: MlflowServer, name: str) -> list:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name(name)
    return client.search_runs(
        [experiment.experiment_id], "tags.`specsweep.kind` = 'trial'", max_results=1000
    )


def assert_each_point_once(pg, server: MlflowServer, name: str, n_points: int = 4) -> list:
    """One COMPLETE Optuna trial and one FINISHED MLflow run per grid point, nothing else."""
    from collections import Counter

    complete = Counter(
        (t.user_attrs["cfg_key"], int(t.user_attrs["seed"]))
        for t in optuna_trials(pg, name)
        if t.state.name == "COMPLETE"
    )
    assert len(complete) == n_points and set(complete.values()) == {1}, complete
    runs = trial_runs(server, name)
    finished = Counter(
        (r.data.tags["cfg_key"], int(r.data.tags["seed"]))
        for r in runs
        if r.info.status == "FINISHED"
    )
    assert finished == complete
    for run in runs:
        if run.info.status == "FINISHED":
            assert "map_test" in run.data.metrics
    return runs


def ran_here(output: str) -> int:
    import re

    match = re.search(r"(\d+) attempt\(s\) run here", output)
    assert match, output
    return int(match[1])


def test_two_supervisors_share_one_sweep_each_point_once(pg, mlflow_server, data_dir, tmp_path):
    """Two "nodes", the same --storage and --tracking-uri: the grid completes exactly once, and
    both nodes did part of it. They share one working directory, as nodes on a shared filesystem
    do (and as the README's walk-through does): their slot files must not collide."""
    name = "mn-two"
    # A tracking password in the URI (this server ignores it): MLflow would print it in every
    # trial's log ("View run at http://ana:...@"), so specsweep moves it to MLFLOW_TRACKING_*.
    tracking_pw = "Track-Pw-7788"
    tracking_uri = mlflow_server.uri.replace("http://", f"http://ana:{tracking_pw}@")
    flags = ("--storage", pg.url(), "--tracking-uri", tracking_uri)
    shared = tmp_path / "shared"
    sweep_file = tiny_sweep(shared, data_dir, name)
    procs = [start_supervisor(shared, sweep_file, node_env(pg), *flags) for _ in range(2)]
    results = [finish(p) for p in procs]
    for code, out in results:
        assert code == 0, out
    runs = assert_each_point_once(pg, mlflow_server, name)
    # No password in anything printed, written or logged: outputs, trial logs, job files, tags.
    written = [out for _, out in results] + [
        p.read_text(errors="replace")
        for p in shared.rglob("*")
        if p.is_file() and p.stat().st_size < 1e6
    ]
    logged = [str(r.data.tags) + str(r.data.params) for r in runs]
    for text in written + logged:
        assert pg.password() not in text and tracking_pw not in text
    assert any("View run" in text for text in written)  # the trial logs were read
    counts = [ran_here(out) for _, out in results]
    assert sum(counts) == 4 and min(counts) >= 1, counts
    # The artifacts went through the server, not into the nodes' working directories.
    assert not list(tmp_path.rglob("config.yaml"))
    assert len(list(mlflow_server.artifacts.rglob("config.yaml"))) >= 4


def running_mlflow_trials(pg, server: MlflowServer, name: str, pid: int | None) -> set[int]:
    """Optuna numbers of attempts leased by supervisor `pid` (None: any) whose MLflow run is
    RUNNING: the child is past start-up, mid-training."""
    try:
        trials = optuna_trials(pg, name)
        runs = trial_runs(server, name)
    except (KeyError, AttributeError):  # no study / no experiment yet
        return set()
    leased = {
        t.number
        for t in trials
        if t.state.name == "RUNNING" and pid in (None, (t.user_attrs.get("lease") or {}).get("pid"))
    }
    return {
        int(r.data.tags["optuna_trial"])
        for r in runs
        if r.info.status == "RUNNING" and int(r.data.tags.get("optuna_trial", -1)) in leased
    }


def test_sigkilled_supervisor_is_reaped_by_the_other(pg, mlflow_server, data_dir, tmp_path):
    """Node 1 dies mid-trial (SIGKILL: no cleanup at all); node 2 reaps its lease, reruns the
    point and finishes the sweep: exactly one FINISHED run per point."""
    name = "mn-kill"
    env = node_env(pg, SPECSWEEP_STORAGE=pg.url(), SPECSWEEP_TRACKING_URI=mlflow_server.uri)
    nodes = [
        start_supervisor(
            tmp_path / node, tiny_sweep(tmp_path / node, data_dir, name, epochs=4), env
        )
        for node in ("node1", "node2")
    ]
    node1, node2 = nodes
    wait_until(
        lambda: running_mlflow_trials(pg, mlflow_server, name, node1.pid),
        300,
        "node 1 to be mid-trial",
    )
    node1.kill()  # its child follows (PR_SET_PDEATHSIG); its MLflow run stays RUNNING
    node1.communicate()
    code, out = finish(node2)
    assert code == 0, out
    assert "reaped" in out, out
    runs = assert_each_point_once(pg, mlflow_server, name)
    killed = [r for r in runs if r.info.status != "FINISHED"]
    assert killed and all(r.data.tags.get("reason") == "killed" for r in killed), [
        (r.info.status, r.data.tags.get("reason")) for r in killed
    ]
    failed = [t for t in optuna_trials(pg, name) if t.state.name == "FAIL"]
    assert failed and all(t.user_attrs["reason"].startswith("killed") for t in failed)


def test_slurm_template_hands_the_running_trial_back_on_usr1(pg, mlflow_server, data_dir, tmp_path):
    """slurm/specsweep-array.sbatch run as SLURM would (bash, env, then SIGUSR1 to the batch
    shell before the time limit): the running trial goes back to the queue without using a
    retry (max_retries 0), and the next node finishes the sweep."""
    name = "mn-slurm"
    sweep_file = tiny_sweep(tmp_path / "node1", data_dir, name, max_retries=0, epochs=4)
    env = node_env(
        pg,
        SWEEP=str(sweep_file),
        SPECSWEEP_STORAGE=pg.url(),
        SPECSWEEP_TRACKING_URI=mlflow_server.uri,
        SPECSWEEP_BIN=SPECSWEEP,
        SLURM_JOB_ID="4242",
        SLURM_ARRAY_TASK_ID="0",
    )
    job = subprocess.Popen(
        ["bash", str(ROOT / "slurm/specsweep-array.sbatch")],
        cwd=tmp_path / "node1",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(
        lambda: running_mlflow_trials(pg, mlflow_server, name, None), 300, "a trial mid-training"
    )
    job.send_signal(signal.SIGUSR1)
    code, out = finish(job, 180)
    assert code == 130, out  # the supervisor's "stopped, run again to resume"
    assert "SIGUSR1" in out or "USR1 received" in out, out
    trials = optuna_trials(pg, name)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    interrupted = [t for t in trials if t.user_attrs.get("reason") == "interrupted"]
    assert interrupted, [(t.state.name, t.user_attrs.get("reason")) for t in trials]
    runs = trial_runs(mlflow_server, name)
    assert any(
        r.info.status == "KILLED" and r.data.tags.get("reason") == "interrupted" for r in runs
    )

    node2 = tmp_path / "node2"
    rest = start_supervisor(node2, tiny_sweep(node2, data_dir, name, max_retries=0, epochs=4), env)
    code, out = finish(rest)
    assert code == 0, out  # nothing failed for good: the interruption used no retry
    assert_each_point_once(pg, mlflow_server, name)


# --- bad URLs through the CLI --------------------------------------------------------------------


def run_cli(args: list[str], env: dict, cwd: Path) -> tuple[int, str, float]:
    start = time.monotonic()
    result = subprocess.run(
        [SPECSWEEP, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - start


def test_sweep_refuses_bad_servers_with_exit_2_and_no_password(
    pg, mlflow_server, data_dir, tmp_path
):
    sweep_file = tiny_sweep(tmp_path, data_dir, "mn-bad")
    env = {k: v for k, v in node_env(pg).items() if k != "PGPASSWORD"}
    wrong = "Wr0ng-Passw0rd"
    good_storage = pg.url(with_password=True)
    cases = {
        "wrong password": (
            ["--storage", pg.url().replace("specsweep@", f"specsweep:{wrong}@")],
            "wrong user name or password",
        ),
        "unreachable database": (
            ["--storage", good_storage.replace(f":{pg.port}/", f":{postgres.free_port()}/")],
            "database server is unreachable",
        ),
        "unreachable tracking server": (
            [
                "--storage",
                good_storage,
                "--tracking-uri",
                f"http://ana:{wrong}@127.0.0.1:{postgres.free_port()}",
            ],
            "MLflow server is unreachable",
        ),
    }
    for case, (flags, expected) in cases.items():
        code, out, took_s = run_cli(["sweep", str(sweep_file), "--no-live", *flags], env, tmp_path)
        assert code == 2, (case, out)
        assert expected in out, (case, out)
        assert "Traceback" not in out, (case, out)
        assert wrong not in out and pg.password() not in out, (case, out)
        assert took_s < 60, (case, took_s)  # seconds, not a TCP timeout (imports included)
