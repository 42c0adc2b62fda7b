"""Logged models, the `config` tag, the experiment's description and `specsweep predict`, after a
real tiny sweep (2 configurations x 2 seeds, trained in this process on real synthetic audio,
logged to a real MLflow SQLite store), and `specsweep predict` on real audio files.

The planted-species check needs a model that has learnt something: it is in
`test_predict_finds_the_planted_species` (slow), which trains the demo-sized model longer.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.pytorch
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from helpers.tiny_sweep import tiny_sections
from mlflow import MlflowClient

from runner.cli import main
from runner.data.config import RavenConfig
from runner.data.manifest import Skips
from runner.data.raven import read_tables, window_starts
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.tracking import experiment as experiment_page
from runner.tracking import logged_models
from runner.train.trial import run_trial

SR = 22050


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished tiny sweep with `log_model: best`, its report run; the scorers made in memory."""
    root = tmp_path_factory.mktemp("sweep")
    cwd = Path.cwd()
    os.chdir(root)  # .specsweep/models and MLflow's artifact folder land here
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    sections = tiny_sections(root / "data", epochs=1)
    sections["grid"] = {"axes": {"frontend.scale": ["mel", "linear"]}}
    sections["eval"] = {"sets": ["test", "field"]}
    sweep_file = root / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump({"name": "tiny", "seeds": 2, **sections}))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    made: dict[str, logged_models.ClipScorer] = {}
    original = logged_models.make_scorer

    def recording(classifier, classes, cfg):
        scorer = original(classifier, classes, cfg)
        made[len(made)] = scorer
        return scorer

    logged_models.make_scorer = recording
    try:
        results = [
            run_trial(spec, tracking_uri=uri, log_model="best", system_metrics_s=0.5, threads=1)
            for spec in expand(load_sweep(sweep_file))
        ]
        assert all(r.finished for r in results), [r.reason for r in results]
        by_run = {r.run_id: made[i] for i, r in enumerate(results)}
        code = main(["report", "--experiment", "tiny", "--tracking-uri", uri, "--out", "out"])
        assert code == 0
    finally:
        logged_models.make_scorer = original
        os.chdir(cwd)
    return {"root": root, "uri": uri, "results": results, "scorers": by_run}


def trial_runs(client: MlflowClient):
    exp = client.get_experiment_by_name("tiny")
    return exp, client.search_runs([exp.experiment_id], "tags.`specsweep.kind` = 'trial'")


def best_of(runs, cfg_key):
    mine = [r for r in runs if r.data.tags["cfg_key"] == cfg_key]
    return max(mine, key=lambda r: (r.data.metrics["map_test"], -int(r.data.tags["seed"])))


def test_every_run_has_its_config_tag(swept):
    _, runs = trial_runs(MlflowClient(swept["uri"]))
    assert len(runs) == 4
    for run in runs:
        assert run.data.tags["config"] == run.data.tags["trial_name"]
    assert {r.data.tags["config"] for r in runs} == {"mel", "linear"}


def test_best_mode_logged_exactly_one_model_per_configuration(swept):
    client = MlflowClient(swept["uri"])
    exp, runs = trial_runs(client)
    models = client.search_logged_models([exp.experiment_id])
    assert len(models) == 2
    for cfg_key in {r.data.tags["cfg_key"] for r in runs}:
        best = best_of(runs, cfg_key)
        mine = [m for m in models if m.source_run_id == best.info.run_id]
        assert len(mine) == 1, f"{best.info.run_name}: {len(mine)} models"
        assert best.data.tags[logged_models.TAG_MODEL_ID] == mine[0].model_id
    # the weights files left for `best` mode are gone once logged (or superseded)
    assert not list((swept["root"] / ".specsweep" / "models").rglob("*.pt"))
    # running it again (a second report) logs nothing new
    again = logged_models.log_best_models(client, swept["uri"], "tiny", swept["root"] / "x")
    assert not again.logged and not again.replaced and len(again.models) == 2
    assert len(client.search_logged_models([exp.experiment_id])) == 2


def test_logged_model_scores_like_the_in_memory_model(swept):
    client = MlflowClient(swept["uri"])
    _, runs = trial_runs(client)
    run = best_of(runs, runs[0].data.tags["cfg_key"])
    in_memory = swept["scorers"][run.info.run_id]
    waveform = torch.from_numpy(
        np.random.default_rng(1).standard_normal((3, in_memory.clip_samples)).astype(np.float32)
        * 0.05
    )
    mlflow.set_tracking_uri(swept["uri"])
    loaded = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    with torch.inference_mode():
        expected = in_memory(waveform).numpy()
        got = loaded(waveform).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    assert loaded.classes == in_memory.classes and loaded.sample_rate == SR
    assert expected.min() >= 0 and expected.max() <= 1  # probabilities

    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    table = pyfunc.predict(waveform.numpy())  # one row per clip, a column per class
    got = table[list(in_memory.classes)].to_numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    meta = pyfunc.metadata
    assert meta.metadata["classes"] == list(in_memory.classes)
    assert meta.metadata["sample_rate"] == SR and meta.metadata["clip_s"] == 1.5
    assert [c["name"] for c in meta.signature.outputs.to_dict()][3:] == list(in_memory.classes)
    assert "(n, 33075)" in meta.metadata["input"]
    assert meta.saved_input_example_info is not None


def test_experiment_description_and_ui_views(swept):
    client = MlflowClient(swept["uri"])
    exp, runs = trial_runs(client)
    text = exp.tags[experiment_page.DESCRIPTION_TAG]
    means = {}
    for run in runs:
        means.setdefault(run.data.tags["config"], []).append(run.data.metrics["map_test"])
    best = max(means, key=lambda k: np.mean(means[k]))
    assert f"Best MAP on test: {best}" in text
    summary = client.search_runs([exp.experiment_id], "tags.`specsweep.kind` = 'summary'")[0]
    assert f"runs/{summary.info.run_id}/artifacts/report/report.html?" in text
    # The answer first (the UI shows the first paragraph): the warning when the best configuration
    # did not learn (reports.learning), else the best configuration.
    warned = any(
        r.data.metrics.get("learned") == 0.0 for r in runs if r.data.tags["config"] == best
    )
    lead = "**No configuration learned much" if warned else f"**Best MAP on test: {best}"
    assert text.startswith(lead)
    assert "Logged models: 2" in text

    experiment_page.prepare(client, exp.experiment_id, ["test", "field"], ["frontend.scale"])
    exp = client.get_experiment(exp.experiment_id)
    assert exp.tags[experiment_page.KIND_TAG] == "custom_model_development"
    view = json.loads(exp.tags["mlflow.sharedViewState.specsweep"])
    assert view["orderByKey"] == "metrics.`map_test`" and view["orderByAsc"] is False
    assert "params.`frontend.scale`" in view["selectedColumns"]
    grouped = json.loads(exp.tags["mlflow.sharedViewState.specsweep-by-config"])
    assert grouped["groupBy"]["groupByKeys"] == [{"mode": "tag", "groupByData": "config"}]
    # Both views show the trials and not the summary run (the UI runs the same search).
    assert view["searchFilter"] == grouped["searchFilter"]
    shown = client.search_runs([exp.experiment_id], view["searchFilter"])
    assert sorted(r.info.run_id for r in shown) == sorted(r.info.run_id for r in runs)
    assert summary.info.run_id not in {r.info.run_id for r in shown}
    url = experiment_page.runs_url("http://127.0.0.1:5000", exp.experiment_id)
    assert url.endswith("runs?workflowType=machine_learning&viewStateShareKey=specsweep")


def test_the_report_says_what_was_fixed_and_where_the_times_were_measured(swept):
    import platform

    from reports.setup import setup_lines
    from runner.tracking.runs import read_sweep

    table = read_sweep(MlflowClient(swept["uri"]), "tiny")
    finished = [t for t in table.trials if t.finished]
    assert table.fixed["frontend.sample_rate"] == SR and table.fixed["data.clip_s"] == 1.5
    assert "frontend.scale" not in table.fixed  # swept, so not fixed
    (machine,) = table.machines  # one machine, read from every finished run's env.json
    assert machine["hostname"] == platform.node() and machine["device"] == "cpu"
    assert machine["trials"] == len(finished)
    assert machine["at_once"] == 1  # run_trial one after another, never two at once
    fixed, measured = setup_lines(table)
    assert fixed.startswith("Fixed settings (the same in every finished trial): model ")
    assert f"{SR} Hz, 1.5 s clips." in fixed
    assert measured.startswith(f"Training times measured on {platform.node()} (")
    assert f"{machine['torch_threads']} torch thread" in measured


def test_system_metrics_are_logged(swept):
    _, runs = trial_runs(MlflowClient(swept["uri"]))
    keys = set().union(*(r.data.metrics for r in runs))
    assert "system/cpu_utilization_percentage" in keys
    assert "system/system_memory_usage_megabytes" in keys


# --------------------------------------------------------------------------- specsweep predict


def model_run(swept) -> str:
    _, runs = trial_runs(MlflowClient(swept["uri"]))
    return next(r.info.run_id for r in runs if logged_models.TAG_MODEL_ID in r.data.tags)


def test_predict_windows_csv_and_raven_tables(swept, tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(0)
    lengths = {"long.flac": 7.3, "exact.wav": 3.0, "short.wav": 0.9}  # clips of 1.5 s
    for name, seconds in lengths.items():
        sf.write(audio / name, 0.05 * rng.standard_normal(round(seconds * 44100)), 44100)
    out, raven = tmp_path / "scores.csv", tmp_path / "raven"
    code = main(
        [
            "predict",
            model_run(swept),
            str(audio),
            "--out",
            str(out),
            "--raven",
            str(raven),
            "--threshold",
            "0.0",
            "--tracking-uri",
            swept["uri"],
            "--hop-s",
            "1.0",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    scorer = next(iter(swept["scorers"].values()))
    assert list(rows[0])[3:] == list(scorer.classes)
    for name, seconds in lengths.items():
        mine = [r for r in rows if Path(r["file"]).name == name]
        starts = [float(r["start_s"]) for r in mine]
        expected = window_starts(seconds, 1.5, 1.0)
        np.testing.assert_allclose(starts, expected, atol=1e-4)
        ends = [float(r["end_s"]) for r in mine]
        np.testing.assert_allclose(ends, [min(s + 1.5, seconds) for s in expected], atol=1e-4)
    # Raven tables, read back by the project's own reader; threshold 0: every window x class
    tables = sorted(p.name for p in raven.iterdir())
    assert tables == sorted(f"{Path(n).stem}.Table.1.selections.txt" for n in lengths)
    recordings = read_tables(
        RavenConfig(tables=str(raven), audio_dir=str(audio)), scorer.classes, Skips(False)
    )
    assert {Path(r.path).name for r in recordings} == set(lengths)
    for rec in recordings:
        n_windows = len(window_starts(lengths[Path(rec.path).name], 1.5, 1.0))
        assert len(rec.boxes) == n_windows * len(scorer.classes)
        assert {b.species for b in rec.boxes} == set(scorer.classes)


def test_predict_counts_and_names_a_corrupt_file(swept, tmp_path, capsys):
    good, bad = tmp_path / "good.wav", tmp_path / "broken.flac"
    sf.write(good, 0.05 * np.random.default_rng(0).standard_normal(SR * 2), SR)
    bad.write_bytes(b"fLaC this is not audio" * 10)
    out = tmp_path / "s.csv"
    code = main(
        [
            "predict",
            model_run(swept),
            str(good),
            str(bad),
            str(tmp_path / "missing.wav"),
            "--out",
            str(out),
            "--tracking-uri",
            swept["uri"],
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "2 of 3 file(s) could not be scored" in err
    assert f"{bad}: unreadable" in err and "missing.wav: missing_file" in err
    assert {Path(r["file"]).name for r in csv.DictReader(out.open())} == {"good.wav"}


@pytest.mark.parametrize(
    "ref", ["0123456789abcdef0123456789abcdef", "models:/no-such-model/1", "nonsense"]
)
def test_predict_unknown_model_is_a_one_line_error(swept, tmp_path, capsys, ref):
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.05 * np.ones(SR), SR)
    code = main(["predict", ref, str(wav), "--tracking-uri", swept["uri"]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"specsweep: error: model {ref}") or err.startswith(
        f"specsweep: error: model {ref!r}"
    )
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("block", [1000, 4096, 10**6])
@pytest.mark.parametrize("seconds", [0.4, 1.5, 1.51, 4.0, 7.3])
def test_sliding_windows_match_the_raven_windows(block, seconds):
    from runner.train.predict import sliding_windows

    signal = np.arange(round(seconds * 1000), dtype=np.float32)  # 1 kHz: sample i holds i
    blocks = [signal[i : i + block] for i in range(0, signal.size, block)]
    got = list(sliding_windows(blocks, clip_len=1500, hop_len=700))
    np.testing.assert_allclose(
        [start / 1000 for start, _ in got], window_starts(seconds, 1.5, 0.7), atol=1e-9
    )
    for start, window in got:  # each window holds its own samples
        np.testing.assert_array_equal(window, signal[start : start + 1500])


def test_ui_mistakes_are_one_line_errors(swept, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(
            [
                "ui",
                "--experiment",
                "tiny",
                "--tracking-uri",
                swept["uri"],
                "--port",
                str(port),
                "--no-browser",
            ]
        )
    err = capsys.readouterr().err
    assert code == 2 and f"--port {port}: 127.0.0.1:{port} is already in use" in err
    code = main(["ui", "--experiment", "tiyn", "--tracking-uri", swept["uri"], "--no-browser"])
    err = capsys.readouterr().err
    assert code == 2 and "experiment 'tiyn': not found" in err and "did you mean 'tiny'" in err


def _finished_trial(client, exp_id, tmp_path, seed: int, map_test: float, cfg_key="abc") -> str:
    """A finished trial run of sweep `replace` whose `best`-mode weights file is under tmp/m."""
    tags = {"specsweep.kind": "trial", "sweep": "replace", "cfg_key": cfg_key, "seed": str(seed)}
    name = f"{cfg_key}-s{seed}"
    run_id = client.create_run(exp_id, tags=tags, run_name=name).info.run_id
    client.log_param(run_id, "eval.sets", '["test"]')
    client.log_metric(run_id, "map_test", map_test)
    client.set_terminated(run_id, "FINISHED")
    torch.manual_seed(seed)
    logged_models.save_weights(tmp_path / "m", "replace", cfg_key, seed, _scorer(cfg_key), run_id)
    return run_id


def test_a_better_seed_replaces_the_logged_model(tmp_path):
    """`best`: a later seed that beats the logged one takes its place; one model per config."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("replace", artifact_location=str(tmp_path / "art"))
    first = _finished_trial(client, exp_id, tmp_path, 0, 0.5)
    done = logged_models.log_best_models(client, uri, "replace", tmp_path / "m")
    assert done.logged == ["abc-s0"] and done.models["abc"][0] == first
    second = _finished_trial(client, exp_id, tmp_path, 1, 0.6)
    done = logged_models.log_best_models(client, uri, "replace", tmp_path / "m")
    assert done.logged == ["abc-s1"] and done.replaced == ["abc-s0"]
    (model_left,) = client.search_logged_models([exp_id])
    assert model_left.source_run_id == second
    assert logged_models.TAG_MODEL_ID not in client.get_run(first).data.tags
    assert not list((tmp_path / "m").rglob("*.pt"))


def _log_best_in_child(uri: str, root: str, barrier, results) -> None:
    barrier.wait()
    done = logged_models.log_best_models(MlflowClient(uri), uri, "replace", Path(root) / "m")
    results.put(len(done.models))


def test_several_supervisors_end_with_one_model_per_configuration(tmp_path):
    """Two supervisors of one sweep log the best models at the same moment (the two-node
    recipe): the store ends with one model per configuration, each run's tag naming it."""
    import multiprocessing

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("replace", artifact_location=str(tmp_path / "art"))
    best = {key: _finished_trial(client, exp_id, tmp_path, 0, 0.5, key) for key in ("a", "b")}
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_log_best_in_child, args=(uri, str(tmp_path), barrier, results))
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    counts = [results.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert counts == [2, 2]
    _assert_one_model_each(client, exp_id, best)


def test_report_mends_a_store_with_more_than_one_model_per_configuration(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("replace", artifact_location=str(tmp_path / "art"))
    best = {key: _finished_trial(client, exp_id, tmp_path, 0, 0.5, key) for key in ("a", "b")}
    loser = _finished_trial(client, exp_id, tmp_path, 1, 0.1, "a")
    logged_models.log_best_models(client, uri, "replace", tmp_path / "m")
    # What an older version left behind: a second model of each best run, one of a loser.
    for run_id in [*best.values(), loser]:
        logged_models.log_trial_model(uri, run_id, _scorer("x"), {})
    client.set_tag(best["a"], logged_models.TAG_MODEL_ID, "m-not-a-model")  # a tag gone astray
    assert len(client.search_logged_models([exp_id])) == 5
    code = main(
        ["report", "--experiment", "replace", "--tracking-uri", uri, "--out", str(tmp_path)]
    )
    assert code == 0, capsys.readouterr()
    _assert_one_model_each(client, exp_id, best)


def _scorer(cfg_key: str):
    from frontends import FrontendConfig
    from models.classifier import create_classifier
    from models.config import ModelConfig
    from models.scoring import ClipScorer

    frontend = FrontendConfig(win_length=512, hop_length=256, n_mels=32, image_size=(32, 64))
    model = ModelConfig(name="mobilenetv3_small_050", pretrained="none")
    return ClipScorer(create_classifier(frontend.resolved(), model, 3).eval(), cfg_key, SR, SR)


def _assert_one_model_each(client, exp_id, best: dict[str, str]) -> None:
    models = client.search_logged_models([exp_id])
    assert sorted(m.source_run_id for m in models) == sorted(best.values())
    for model in models:
        tags = client.get_run(model.source_run_id).data.tags
        assert tags[logged_models.TAG_MODEL_ID] == model.model_id


def test_all_mode_logs_the_trial_model(tmp_path, monkeypatch, swept):
    monkeypatch.chdir(tmp_path)
    spec = expand(load_sweep(swept["root"] / "tiny.yaml"))[0]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_trial(spec, tracking_uri=uri, log_model="all", threads=1)
    assert result.finished
    client = MlflowClient(uri)
    (model,) = client.search_logged_models([client.get_experiment_by_name("tiny").experiment_id])
    assert model.source_run_id == result.run_id and model.name == "model"
    assert client.get_run(result.run_id).data.tags[logged_models.TAG_MODEL_ID] == model.model_id
    mlflow.set_tracking_uri(uri)
    info = mlflow.models.get_model_info(f"models:/{model.model_id}")
    assert info.metadata["config"] == spec.name and info.metadata["seed"] == spec.seed
    assert info.metadata["map_test"] == pytest.approx(result.metrics["map_test"])
    assert not (tmp_path / ".specsweep" / "models").exists()
