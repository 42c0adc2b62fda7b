"""Multi-node, fast part: passwords masked, URLs resolved (flag > env > file), fail-fast checks.

Real sockets, no mocks: an unreachable server is a port nobody listens on, a server that refuses
credentials is a real HTTP server in a thread. The servers themselves (PostgreSQL, MLflow) are
exercised in tests/servers/test_multinode_stores.py and test_multinode_sweeps.py (slow).
"""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from runner.cli import main
from runner.errors import UserError
from runner.servers.remote import (
    STORAGE_ENV,
    TRACKING_ENV,
    check_storage,
    check_tracking,
    engine_kwargs,
    resolve_storage_url,
    resolve_sweep_urls,
    resolve_tracking_uri,
    tracking_credentials_to_env,
)
from runner.servers.secrets import mask_text, mask_url, url_password
from runner.sweep.load import sweep_from_dict

SECRET = "s3cr3t-Pa55"


# --- masking -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            f"postgresql://ana:{SECRET}@db.lab:5432/sweeps",
            "postgresql://ana:***@db.lab:5432/sweeps",
        ),
        (
            f"postgresql+psycopg2://ana:{SECRET}@db/sweeps?sslmode=require",
            "postgresql+psycopg2://ana:***@db/sweeps?sslmode=require",
        ),
        (
            f"postgresql://db/sweeps?user=ana&password={SECRET}",
            "postgresql://db/sweeps?user=ana&password=***",
        ),
        (f"https://ana:{SECRET}@mlflow.lab", "https://ana:***@mlflow.lab"),
        ("postgresql://ana@db:5432/sweeps", "postgresql://ana@db:5432/sweeps"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("postgresql://ana:p%40ss%2Fword@db/s", "postgresql://ana:***@db/s"),
        (f"postgresql://ana:{SECRET}@db:notaport/s", "postgresql://ana:***@db:notaport/s"),
    ],
)
def test_mask_url_hides_the_password_and_keeps_the_rest(url, masked):
    assert mask_url(url) == masked


def test_url_password_reads_userinfo_encoded_and_query():
    assert url_password("postgresql://ana:p%40ss@db/s") == "p@ss"
    assert url_password(f"postgresql://db/s?password={SECRET}") == SECRET
    assert url_password("postgresql://ana@db/s") is None


def test_mask_text_hides_given_env_and_url_shaped_secrets():
    env = {"PGPASSWORD": "from-env-pw", "HOME": "/root"}
    text = (
        f"failed for postgresql://ana:{SECRET}@db/s; dsn host=db password=other-pw user=ana; "
        "the env one: from-env-pw; encoded: p%40ss"
    )
    masked = mask_text(text, secrets=["p@ss"], environ=env)
    for secret in (SECRET, "other-pw", "from-env-pw", "p%40ss"):
        assert secret not in masked
    assert "postgresql://ana:***@db/s" in masked
    assert "user=ana" in masked and "host=db" in masked  # only the secrets go


# --- where the URLs come from --------------------------------------------------------------------


def test_storage_url_precedence_flag_env_file():
    env = {STORAGE_ENV: "postgresql://env@db/s"}
    assert resolve_storage_url("postgresql://cli@db/s", "postgresql://file@db/s", environ=env) == (
        "postgresql://cli@db/s"
    )
    assert resolve_storage_url(None, "postgresql://file@db/s", environ=env) == (
        "postgresql://env@db/s"
    )
    assert resolve_storage_url(None, "postgresql://file@db/s", environ={}) == (
        "postgresql://file@db/s"
    )
    assert resolve_storage_url(None, None, environ={}) is None  # the journal file


def test_tracking_uri_env_beats_the_default_and_the_file():
    env = {TRACKING_ENV: "http://mlflow:5000"}
    assert resolve_tracking_uri(None, "sqlite:///mlflow.db", False, environ=env) == (
        "http://mlflow:5000"
    )
    assert resolve_tracking_uri("http://cli:1", "sqlite:///mlflow.db", True, environ=env) == (
        "http://cli:1"
    )
    assert resolve_tracking_uri(None, "http://file:2", True, environ={}) == "http://file:2"


def test_env_placeholders_in_a_sweep_file_and_unset_ones(monkeypatch):
    sweep = sweep_from_dict(
        {
            "name": "t",
            "storage": {"url": "postgresql://lab@${DB_HOST}:5432/sweeps"},
            "tracking": {"uri": "http://${MLFLOW_HOST}:5000"},
        },
        source="sweeps/t.yaml",
    )
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.delenv(TRACKING_ENV, raising=False)
    monkeypatch.setenv("DB_HOST", "db.lab")
    monkeypatch.setenv("MLFLOW_HOST", "head")
    assert resolve_sweep_urls(sweep) == ("postgresql://lab@db.lab:5432/sweeps", "http://head:5000")
    monkeypatch.delenv("MLFLOW_HOST")
    with pytest.raises(
        UserError, match=r"sweeps/t.yaml: tracking.uri: \$\{MLFLOW_HOST\} is not set"
    ):
        resolve_sweep_urls(sweep)


def test_sweep_default_tracking_uri_yields_to_the_environment(monkeypatch):
    sweep = sweep_from_dict({"name": "t"})
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.setenv(TRACKING_ENV, "http://head:5000")
    assert resolve_sweep_urls(sweep) == (None, "http://head:5000")
    assert resolve_sweep_urls(sweep, tracking_uri="http://other:1") == (None, "http://other:1")


def test_tracking_credentials_move_from_the_uri_to_mlflow_env_vars():
    env: dict[str, str] = {}
    uri = tracking_credentials_to_env(f"https://ana:{SECRET}@mlflow.lab:443/base", env)
    assert uri == "https://mlflow.lab:443/base"
    assert env == {"MLFLOW_TRACKING_USERNAME": "ana", "MLFLOW_TRACKING_PASSWORD": SECRET}
    assert tracking_credentials_to_env("http://mlflow.lab:5000", env) == "http://mlflow.lab:5000"
    assert tracking_credentials_to_env("sqlite:///mlflow.db", {}) == "sqlite:///mlflow.db"


# --- fail-fast checks on real sockets ------------------------------------------------------------


def closed_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_database_is_a_quick_masked_user_error():
    url = f"postgresql://specsweep:{SECRET}@127.0.0.1:{closed_port()}/specsweep"
    start = time.monotonic()
    with pytest.raises(UserError) as info:
        check_storage(url)
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "unreachable" in message and "specsweep:***@127.0.0.1" in message
    assert SECRET not in message


def test_raw_at_sign_in_a_password_is_refused_before_connecting():
    with pytest.raises(UserError, match="%40") as info:
        check_storage("postgresql://ana:pa@ss@127.0.0.1:1/s")
    assert "pa@ss" not in str(info.value) and "ss@127" not in str(info.value)


def test_engine_kwargs_set_a_connect_timeout_for_postgresql():
    assert engine_kwargs("postgresql://a@h/d", 3)["connect_args"] == {"connect_timeout": 3}
    assert "connect_args" not in engine_kwargs("sqlite:///x.db")


def test_unreachable_tracking_server_is_a_quick_masked_user_error():
    uri = f"http://ana:{SECRET}@127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(UserError) as info:
        check_tracking(uri, environ={})
    assert time.monotonic() - start < 10
    assert "unreachable" in str(info.value) and SECRET not in str(info.value)


class _Refuse(http.server.BaseHTTPRequestHandler):
    """A server that wants credentials it is never given (like MLflow's basic-auth app)."""

    def do_GET(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
        self.end_headers()

    def log_message(self, *args):
        pass


def test_refused_credentials_name_the_env_vars_and_hide_the_password():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with pytest.raises(UserError, match="MLFLOW_TRACKING_PASSWORD") as info:
            check_tracking(f"http://ana:{SECRET}@127.0.0.1:{port}", environ={})
        assert "HTTP 401" in str(info.value) and SECRET not in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


def test_local_tracking_stores_need_no_check(tmp_path):
    """Local stores are neither opened nor created by the check; a server URI is contacted."""
    assert check_tracking(f"sqlite:///{tmp_path}/new/mlflow.db", environ={}) is None
    assert check_tracking(str(tmp_path / "mlruns"), environ={}) is None
    assert check_storage(None) is None
    assert not (tmp_path / "new").exists() and not (tmp_path / "mlruns").exists()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UserError, match=f"127.0.0.1:{port}"):
        check_tracking(f"http://127.0.0.1:{port}", timeout_s=2, environ={})


# --- specsweep server: refusals before anything starts -------------------------------------------


def test_server_refuses_a_busy_port_with_exit_2(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["server", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port} is already in use" in capsys.readouterr().err


def test_server_refuses_an_unreachable_backend_without_showing_the_password(capsys, tmp_path):
    backend = f"postgresql://mlflow:{SECRET}@127.0.0.1:{closed_port()}/mlflow"
    code = main(
        [
            "server",
            "--port",
            str(closed_port()),
            "--backend-store-uri",
            backend,
            "--artifacts-destination",
            str(tmp_path / "a"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "backend store postgresql://mlflow:***@127.0.0.1" in err and "unreachable" in err
    assert SECRET not in err
