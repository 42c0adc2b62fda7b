"""Multi-node with real servers (slow), the sweeps: supervisors on two "nodes" that share a
PostgreSQL Optuna store and a `specsweep server` (the `pg` and `mlflow_server` fixtures,
tests/servers/conftest.py), over the tiny sweep's synthetic audio (`tiny_sweep`, tests/conftest.py).

  * two supervisors share one sweep: each point once, no password in any output or log;
  * one supervisor SIGKILLed mid-trial: the other reaps its lease and finishes the sweep;
  * the SLURM template hands the running trial back on SIGUSR1, using no retry;
  * a wrong password / an unreachable database or tracking server through the CLI: exit 2,
    quickly, no password in the output.

The servers themselves are checked in tests/servers/test_multinode_stores.py.
Run with `make test-slow` (or `pytest -m slow tests/servers`).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.processes import finish as finish_process
from helpers.processes import start_process
from helpers.servers import MlflowServer

from runner.servers import postgres

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


# --- supervisors on two "nodes" ------------------------------------------------------------------
#
# The supervisors run in their own working directories (node1/, node2/), as on two machines that
# share only the two URLs, or in one (a shared filesystem). The synthetic audio is generated once
# beforehand (absolute paths in the sweep file) so the tests spend their time on the queue, not on
# data.

SPECSWEEP = str(Path(sys.executable).with_name("specsweep"))


@pytest.fixture
def node_sweep(tiny_sweep):
    """`node_sweep(folder, name=..., epochs=..., max_retries=...)`: a tiny sweep (tests/conftest.py)
    for one slot and one thread per supervisor, with no store of its own: the tests name the
    PostgreSQL storage and the tracking server on the command line or in the environment."""
    return functools.partial(
        tiny_sweep,
        slots=1,
        threads_per_slot=1,
        local_tracking=False,
        # Same-host deaths are seen at once (the lease's pid is gone); the timeout is for hosts.
        storage={"heartbeat_s": 2.0, "lease_timeout_s": 60.0},
    )


def node_env(pg, **extra) -> dict[str, str]:
    """A node's environment: the PostgreSQL password from PGPASSWORD, never in a URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECSWEEP_")}
    env.update(PGPASSWORD=pg.password(), MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", **extra)
    return env


def start_supervisor(node: Path, sweep_file: Path, env: dict, *extra: str) -> subprocess.Popen:
    return start_process([SPECSWEEP, "sweep", str(sweep_file), "--no-live", *extra], node, env)


def finish(proc: subprocess.Popen, timeout_s: float = 600) -> tuple[int, str]:
    return finish_process(proc, timeout_s)


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


def test_two_supervisors_share_one_sweep_each_point_once(pg, mlflow_server, node_sweep, tmp_path):
    """Two "nodes", the same --storage and --tracking-uri: the grid completes exactly once, and
    both nodes did part of it. They share one working directory, as nodes on a shared filesystem
    do (and as the walk-through in docs/multinode.md does): their slot files must not collide."""
    name = "mn-two"
    # A tracking password in the URI (this server ignores it): MLflow would print it in every
    # trial's log ("View run at http://ana:...@"), so specsweep moves it to MLFLOW_TRACKING_*.
    tracking_pw = "Track-Pw-7788"
    tracking_uri = mlflow_server.uri.replace("http://", f"http://ana:{tracking_pw}@")
    flags = ("--storage", pg.url(), "--tracking-uri", tracking_uri)
    shared = tmp_path / "shared"
    sweep_file = node_sweep(shared, name=name)
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


def test_sigkilled_supervisor_is_reaped_by_the_other(pg, mlflow_server, node_sweep, tmp_path):
    """Node 1 dies mid-trial (SIGKILL: no cleanup at all); node 2 reaps its lease, reruns the
    point and finishes the sweep: exactly one FINISHED run per point."""
    name = "mn-kill"
    env = node_env(pg, SPECSWEEP_STORAGE=pg.url(), SPECSWEEP_TRACKING_URI=mlflow_server.uri)
    nodes = [
        start_supervisor(tmp_path / node, node_sweep(tmp_path / node, name=name, epochs=4), env)
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


def test_slurm_template_hands_the_running_trial_back_on_usr1(
    pg, mlflow_server, node_sweep, tmp_path
):
    """slurm/specsweep-array.sbatch run as SLURM would (bash, env, then SIGUSR1 to the batch
    shell before the time limit): the running trial goes back to the queue without using a
    retry (max_retries 0), and the next node finishes the sweep."""
    name = "mn-slurm"
    sweep_file = node_sweep(tmp_path / "node1", name=name, max_retries=0, epochs=4)
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
    rest = start_supervisor(node2, node_sweep(node2, name=name, max_retries=0, epochs=4), env)
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
    pg, mlflow_server, node_sweep, tmp_path
):
    sweep_file = node_sweep(tmp_path, name="mn-bad")
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
