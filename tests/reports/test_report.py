"""`specsweep report` end to end on real MLflow stores: runs logged by hand in a temp sqlite store
following the layout of docs/design.md (decision 7), read back, reported, logged to the summary run.

One store (module-scoped: MLflow's sqlite initialisation takes seconds) holds several
experiments: a Merlin-Part-1-like grid (12 configurations x 2 seeds x 2 evaluation sets), a
partial sweep (running, failed, pruned and retried trials), a one-seed one-set sweep, an empty one.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import math
from pathlib import Path

import numpy as np
import pytest

from reports.analysis import comparisons, factors, seed_std, summarise
from runner.cli import main

# ---------------------------------------------------------------------------------------------
# Building real runs by hand, the way runner.train.trial logs them.

SWEPT = ("frontend.win_length", "frontend.hop_length", "frontend.scale", "frontend.image_size")
SETS = ("test", "swamp")


def merlin_grid() -> list[dict]:
    """The seed's Part 1 grid: window x scale x (hop, image size), image size tied to hop."""
    grid = []
    for win in (256, 512):
        for hop, size in ((64, (128, 1024)), (128, (96, 512)), (128, (128, 512))):
            for scale in ("linear", "mel"):
                grid.append(
                    {
                        "frontend.win_length": win,
                        "frontend.hop_length": hop,
                        "frontend.scale": scale,
                        "frontend.image_size": size,
                    }
                )
    return grid


def _digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def plausible_result(cfg: dict, eval_set: str, seed: int) -> tuple[float, float]:
    """(MAP, training time in s) shaped like the seed's findings: mel and the longer window win,
    high resolution is slower and worse; seed noise std 0.010 (test) / 0.017 (swamp)."""
    base = {"test": 0.70, "swamp": 0.42}[eval_set]
    m = base + (0.04 if cfg["frontend.scale"] == "mel" else 0.0)
    m += 0.015 if cfg["frontend.win_length"] == 512 else 0.0
    size = tuple(cfg["frontend.image_size"])
    m += {(128, 1024): -0.02, (96, 512): -0.008, (128, 512): 0.0}[size]
    rng = np.random.default_rng(int(_digest(cfg, eval_set, seed)[:8], 16))
    m += rng.normal(0.0, 0.010 if eval_set == "test" else 0.017)
    minutes = {(128, 1024): 78.0, (96, 512): 31.0, (128, 512): 40.0}[size]
    minutes *= 1.03 if cfg["frontend.scale"] == "mel" else 1.0
    minutes *= 1.0 + rng.normal(0.0, 0.02)
    return float(m), float(minutes * 60)


def preview_image(cfg: dict) -> np.ndarray:
    """A real spectrogram of a synthetic bird call (two chirps in noise) for this configuration:
    STFT with its window and hop, its frequency scale, dB, resized to its image size.
    Returns (1, H, W) float32 in [0, 1]."""
    sr, win, hop = 22050, cfg["frontend.win_length"], cfg["frontend.hop_length"]
    t = np.arange(int(3.0 * sr)) / sr
    rng = np.random.default_rng(0)
    call = np.zeros_like(t)
    for start, f0, f1 in ((0.4, 3000, 6500), (1.3, 6000, 2500), (2.2, 4000, 8000)):
        mask = (t >= start) & (t < start + 0.45)
        tt = t[mask] - start
        call[mask] = np.sin(2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / 0.9)) * np.hanning(
            mask.sum()
        )
    audio = call + 0.05 * rng.standard_normal(t.size)
    frames = np.lib.stride_tricks.sliding_window_view(audio, win)[::hop] * np.hanning(win)
    power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2  # (freq, time)
    freqs = np.fft.rfftfreq(win, 1 / sr)
    height, width = cfg["frontend.image_size"]
    if cfg["frontend.scale"] == "mel":
        mel = np.linspace(0, 2595 * np.log10(1 + (sr / 2) / 700), height)
        rows = 700 * (10 ** (mel / 2595) - 1)
    else:
        rows = np.linspace(0, sr / 2, height)
    image = np.stack([np.interp(rows, freqs, col) for col in power.T], axis=1)  # (H, frames)
    image = 10 * np.log10(np.maximum(image, 1e-6))
    cols = np.linspace(0, image.shape[1] - 1, width)
    image = np.stack([np.interp(cols, np.arange(image.shape[1]), row) for row in image])
    image = (image - image.min()) / (image.max() - image.min())
    return image[None].astype(np.float32)


def trial_name(cfg: dict) -> str:
    h, w = cfg["frontend.image_size"]
    return f"w{cfg['frontend.win_length']}-h{cfg['frontend.hop_length']}-{cfg['frontend.scale']}-{h}x{w}"


def log_trial(
    client,
    experiment_id: str,
    tmp: Path,
    cfg: dict,
    seed: int,
    *,
    sweep: str,
    maps: dict[str, float] | None,
    train_time_s: float | None,
    status: str = "FINISHED",
    reason: str | None = None,
    attempt: int = 1,
    epochs: int = 6,
    preview: bool = True,
    swept: tuple[str, ...] = SWEPT,
) -> str:
    """One trial run as runner.train.trial writes it; returns its run id."""
    from mlflow.entities import Metric, Param

    name = trial_name(cfg) if set(SWEPT) <= set(cfg) else "-".join(str(v) for v in cfg.values())
    tags = {
        "specsweep.kind": "trial",
        "sweep": sweep,
        "cfg_key": _digest(cfg)[:12],
        "seed": str(seed),
        "attempt": str(attempt),
        "trial_name": name,
        "swept": json.dumps(list(swept)),
    }
    if reason:
        tags["reason"] = reason
    run = client.create_run(experiment_id, run_name=f"{name}-s{seed}", tags=tags)
    run_id = run.info.run_id
    params = {
        "frontend.sample_rate": "22050",
        "frontend.n_fft": "na",
        "frontend.compression": "db",
        "model.name": "resnet18",
        "eval.sets": json.dumps(list(SETS)),
        "seed": str(seed),
    }
    params.update(
        {k: json.dumps(list(v)) if isinstance(v, tuple) else str(v) for k, v in cfg.items()}
    )
    metrics = []
    done_epochs = epochs if maps is not None else 2
    for epoch in range(1, done_epochs + 1):
        for s in SETS if maps is None else maps:
            final = (maps or {}).get(s, 0.5)
            value = final * (1 - 0.6 * math.exp(-epoch / 1.5))
            metrics.append(Metric(f"val_map_{s}", value, 1000 + epoch, epoch))
        metrics.append(Metric("train_loss", 1.0 / epoch, 1000 + epoch, epoch))
    for s, value in (maps or {}).items():
        metrics.append(Metric(f"map_{s}", value, 2000, 0))
        metrics.append(Metric(f"micro_ap_{s}", value + 0.05, 2000, 0))
    if train_time_s is not None:
        metrics.append(Metric("train_time_s", train_time_s, 2000, 0))
        metrics.append(Metric("samples_per_s", 1e5 / train_time_s, 2000, 0))
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    if preview:
        path = tmp / f"{run_id}-preview" / "preview.npy"
        path.parent.mkdir()
        np.save(path, preview_image(cfg) if set(SWEPT) <= set(cfg) else np.random.rand(1, 8, 16))
        client.log_artifact(run_id, str(path))
    if status != "RUNNING":
        client.set_terminated(run_id, status)
    return run_id


def log_merlin(client, experiment: str, tmp: Path, seeds=(0, 1), sets=SETS) -> str:
    experiment_id = client.create_experiment(experiment)
    for cfg in merlin_grid():
        for seed in seeds:
            maps = {}
            for s in sets:
                maps[s], time_s = plausible_result(cfg, s, seed)
            log_trial(
                client,
                experiment_id,
                tmp,
                cfg,
                seed,
                sweep=experiment,
                maps=maps,
                train_time_s=time_s,
            )
    return experiment_id


def log_experiments(client, tmp: Path) -> None:
    """The experiments the tests read: merlin, single, partial, empty."""
    log_merlin(client, "merlin", tmp)
    log_merlin(client, "single", tmp, seeds=(7,), sets=("test",))

    # Partial: 4 configurations x 2 seeds, in every state a sweep can leave a trial in.
    partial = client.create_experiment("partial")
    unfinished = {
        (0, 1): {"status": "FAILED", "reason": "nan_loss"},
        (1, 1): {"status": "RUNNING", "preview": False},
        (2, 1): {"status": "KILLED", "reason": "pruned"},
        (3, 0): {"status": "FAILED", "reason": "oom", "attempt": 1},  # then retried
    }
    for i, cfg in enumerate(merlin_grid()[6:10]):
        for seed in (0, 1):
            if (i, seed) in unfinished:
                log_trial(client, partial, tmp, cfg, seed, sweep="partial", maps=None,
                          train_time_s=None, **unfinished[(i, seed)])  # fmt: skip
            if (i, seed) not in unfinished or (i, seed) == (3, 0):
                log_trial(client, partial, tmp, cfg, seed, sweep="partial",
                          maps={"test": 0.7 + 0.01 * i + 0.002 * seed},
                          train_time_s=600.0 + 10 * i, attempt=2 if (i, seed) == (3, 0) else 1)  # fmt: skip
    client.create_experiment("empty")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store shared by the module (MLflow's sqlite set-up takes seconds)."""
    from mlflow.tracking import MlflowClient

    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    log_experiments(client, tmp)
    return {"uri": uri, "client": client, "tmp": tmp}


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


# ---------------------------------------------------------------------------------------------
# Reading runs back.


def test_table_equals_the_logged_metrics(store):
    from runner.tracking import runs

    client = store["client"]
    table = runs.read_sweep(runs.connect(store["uri"]), "merlin")
    assert table.swept_keys == SWEPT
    assert set(table.eval_sets) == set(SETS)
    assert len(table.trials) == 24 and table.status_counts() == {"finished": 24}
    experiment = client.get_experiment_by_name("merlin")
    logged = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    for trial in table.trials:
        run = logged[trial.run_id]
        assert trial.map == {s: run.data.metrics[f"map_{s}"] for s in SETS}
        assert trial.train_time_s == run.data.metrics["train_time_s"]
        assert trial.seed == int(run.data.tags["seed"])
        assert trial.swept["frontend.image_size"] in ((128, 1024), (96, 512), (128, 512))
        assert trial.swept["frontend.win_length"] == int(run.data.params["frontend.win_length"])
        assert [e for e, _ in trial.curves["test"]] == [1, 2, 3, 4, 5, 6]
        assert trial.curves["test"][-1][1] == pytest.approx(
            trial.map["test"] * (1 - 0.6 * math.exp(-6 / 1.5))
        )
    assert set(table.previews) == {t.cfg_key for t in table.trials}
    assert all(p.ndim == 3 and p.dtype == np.float32 for p in table.previews.values())

    # The CSV holds the same numbers, to full precision.
    import csv

    path = table.to_csv(store["tmp"] / "table.csv")
    rows = list(csv.DictReader(path.open()))
    by_run = {r["run_id"]: r for r in rows}
    for trial in table.trials:
        assert float(by_run[trial.run_id]["map_swamp"]) == trial.map["swamp"]
        assert float(by_run[trial.run_id]["train_time_s"]) == trial.train_time_s
        assert by_run[trial.run_id]["frontend.image_size"] in (
            "[128, 1024]",
            "[96, 512]",
            "[128, 512]",
        )


def test_parse_param_inverts_the_layout():
    from runner.tracking.runs import parse_param

    assert parse_param("na") is None
    assert parse_param("[128, 512]") == (128, 512)
    assert parse_param('["db", "pcen"]') == ("db", "pcen")
    assert parse_param("512") == 512 and isinstance(parse_param("512"), int)
    assert parse_param("0.1") == 0.1
    assert parse_param("True") is True and parse_param("false") is False
    assert parse_param("mel") == "mel"


def test_paired_differences_match_a_hand_computation(store):
    """Every comparison's differences equal the per-configuration seed means computed here from
    the logged metrics, and the tied (hop, image size) factor is compared jointly."""
    from runner.tracking import runs

    table = runs.read_sweep(runs.connect(store["uri"]), "merlin")
    configs = summarise(table)
    assert factors(configs, SWEPT) == [
        ("frontend.win_length",),
        ("frontend.scale",),
        ("frontend.image_size",),
        ("frontend.hop_length", "frontend.image_size"),
    ]
    mean = {}
    for cfg in merlin_grid():
        for s in SETS:
            mean[(trial_name(cfg), s)] = np.mean(
                [plausible_result(cfg, s, seed)[0] for seed in (0, 1)]
            )
    by_name = {t.cfg_key: t.name for t in table.trials}
    comps = comparisons(configs, SWEPT, "test")
    scale = [c for c in comps if c.keys == ("frontend.scale",)]
    assert len(scale) == 1 and scale[0].winner == ("mel",) and len(scale[0].diffs) == 6
    for c in comps:
        for (a, b), d in zip(c.pairs, c.diffs):
            assert d == pytest.approx(mean[(by_name[a], "test")] - mean[(by_name[b], "test")])
    # Two seeds: the replicates are the 6 pairs x 2 seeds paired differences, whose mean is the
    # mean of the pairs' differences; the grid was generated with mel ahead by ~0.04.
    expected = np.mean(scale[0].diffs)
    assert len(scale[0].replicates) == 12 and scale[0].mean == pytest.approx(expected)
    assert scale[0].significant
    assert scale[0].sentence(SWEPT).startswith(f"mel beat linear: {expected:+.3f} MAP [")
    assert f"{scale[0].wins} of 12 paired comparisons (sign-flip p" in scale[0].sentence(SWEPT)
    sigma = seed_std(configs, "test")
    assert 0.003 < sigma < 0.03  # generated with std 0.010


# ---------------------------------------------------------------------------------------------
# The command.


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
