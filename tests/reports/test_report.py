"""`specsweep report` end to end on a real MLflow store: runs logged by hand in a temp sqlite
store following the layout of docs/design.md (decision 7) (`helpers.report_runs`, the `store`
fixture of this folder's conftest), reported, logged to the summary run; and the command's
errors on bad input.
"""

from __future__ import annotations

import base64
import html.parser
from pathlib import Path

import pytest

from reports.analysis import summarise
from runner.cli import main


def run_report(store, tmp_path, *args) -> tuple[int, Path]:
    out = tmp_path / "out"
    code = main(["report", "--tracking-uri", store["uri"], "--out", str(out), *args])
    return code, out


class _Page(html.parser.HTMLParser):
    """Collects every URL-bearing attribute, to prove the page needs nothing outside itself."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])


@pytest.fixture(scope="module")
def merlin_report(store, tmp_path_factory) -> Path:
    """`specsweep report` on the merlin experiment, run once for the tests that read its output."""
    code, out = run_report(store, tmp_path_factory.mktemp("merlin"), "--experiment", "merlin")
    assert code == 0
    return out


def test_report_writes_every_file_and_a_self_contained_page(merlin_report):
    out = merlin_report
    pngs = ["map_vs_time", "factor_effects", "seed_noise", "gallery", "training_curves"]
    for name in pngs:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, name
    # The sweep does not vary compression: no frontend figure, and the report says why.
    assert not (out / "frontends.png").exists()
    md = (out / "report.md").read_text()
    assert "does not vary frontend.compression" in md
    assert "mel beat linear: " in md and "seed-to-seed std" in md
    for name in pngs:
        assert f"]({name}.png)" in md

    page = _Page()
    page.feed((out / "report.html").read_text())
    page.close()
    assert page.tags[:1] == ["html"] and "body" in page.tags
    assert len(page.images) == len(pngs) and page.links == []
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")

    rows = (out / "table.csv").read_text().splitlines()
    assert len(rows) == 1 + 24 and "map_test" in rows[0]


def test_report_is_logged_to_the_summary_run(store, merlin_report, tmp_path):
    from runner.tracking import runs

    client = store["client"]
    experiment = client.get_experiment_by_name("merlin")

    def summaries():
        return client.search_runs([experiment.experiment_id], "tags.`specsweep.kind` = 'summary'")

    (summary,) = summaries()
    assert summary.info.run_name == "summary" and summary.info.status == "FINISHED"
    # A second report goes to the same summary run, not to a new one.
    note = tmp_path / "again.md"
    note.write_text("again")
    assert runs.log_report(client, "merlin", [note]) == summary.info.run_id
    assert len(summaries()) == 1
    logged = {f.path for f in client.list_artifacts(summary.info.run_id, "report")}
    assert "report/again.md" in logged
    assert {
        "report/report.html",
        "report/report.md",
        "report/table.csv",
        "report/map_vs_time.png",
    } <= logged


def test_partial_sweep_is_reported_as_such(store, tmp_path):
    code, out = run_report(store, tmp_path, "--experiment", "partial", "--no-log")
    assert code == 0
    md = (out / "report.md").read_text()
    assert "Partial sweep" in md
    assert "nan_loss" in md and "pruned" in md and "running" in md
    # The retried trial counts once, finished, with its two attempts.
    csv_rows = (out / "table.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 8
    retried = [r for r in csv_rows if ",finished,,2," in r]
    assert len(retried) == 1
    assert "needed more than one attempt" in md
    assert (out / "map_vs_time.png").stat().st_size > 0
    assert (out / "training_curves.png").stat().st_size > 0


def test_single_seed_single_set_has_no_error_bars_and_no_noise_section(store, tmp_path):
    code, out = run_report(store, tmp_path, "--experiment", "single", "--no-log")
    assert code == 0
    assert not (out / "seed_noise.png").exists()
    md = (out / "report.md").read_text()
    assert "Not estimated: every configuration has one finished seed" in md
    assert "one seed, no error bars" not in md  # that text lives in the figure title
    from reports import figures
    from runner.tracking import runs

    table = runs.read_sweep(runs.connect(store["uri"]), "single")
    configs = summarise(table)
    assert all(c.map_std("test") is None for c in configs)
    fig = figures.map_vs_time(configs, table.swept_keys, table.eval_sets)
    assert len(fig.axes) == 1
    assert "one seed, no error bars" in fig.texts[0].get_text()


def test_a_server_that_never_answers_fails_in_seconds(tmp_path, capsys, monkeypatch):
    """A socket that accepts connections and never replies: MLflow's defaults (120 s timeout,
    7 retries with backoff) would hang for many minutes; the report gives up after one timeout."""
    import socket
    import time

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.monotonic()
        code = main(["report", "--experiment", "x", "--tracking-uri", uri])
        elapsed = time.monotonic() - start
    assert code == 2 and elapsed < 30
    assert "does not answer" in capsys.readouterr().err


def test_report_from_a_sweep_file(store, tmp_path):
    sweep = tmp_path / "partial.yaml"
    sweep.write_text(f"name: p-sweep\ntracking:\n  uri: {store['uri']}\n  experiment: partial\n")
    out = tmp_path / "from-file"
    assert main(["report", str(sweep), "--out", str(out), "--no-log"]) == 0
    assert (out / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "merlni"], "did you mean 'merlin'"),
        (["--experiment", "empty"], "no trial runs yet"),
        (
            ["--experiment", "x", "--tracking-uri", "sqlite:///{tmp}/nothing-here.db"],
            "no MLflow store",
        ),
        (["--experiment", "x", "--tracking-uri", "http://127.0.0.1:{port}"], "does not answer"),
        ([], "which sweep?"),
        (["{tmp}/missing.yaml"], "no such sweep file"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(store, tmp_path, capsys, args, message):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [a.format(tmp=tmp_path, port=port) for a in args]
    if "--tracking-uri" not in args:
        args += ["--tracking-uri", store["uri"]]
    assert main(["report", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "nothing-here.db").exists()  # a wrong path does not create a store
