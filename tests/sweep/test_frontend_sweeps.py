"""The Merlin study's Part 2 as sweeps: `sweeps/merlin_part2.yaml` and `sweeps/demo_frontends.yaml` plan
to the expected, readably named configurations, and one trial of every Part 2 frontend trains for
an epoch on tiny real synthetic audio, logging what its learnable compressions learned
(`frontend_params.json`) to a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

from frontends import FrontendConfig, build_frontend
from frontends.parameters import band_frequencies_hz, initial_parameter_summary, parameter_summary
from runner.cli import main
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.train.trial import FRONTEND_PARAMS_ARTIFACT, run_trial

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("sweep", "names", "n_seeds"),
    [
        (
            "merlin_part2.yaml",
            ["db", "exp", "exp-perband", "pcen", "pcen-perband", "db+pcen+exp", "db+pcen-perband"],
            5,
        ),
        ("demo_frontends.yaml", ["db", "exp", "pcen", "pcen-perband", "db+pcen+exp"], 6),
    ],
)
def test_plan_of_the_frontend_sweeps(sweep, names, n_seeds, capsys):
    specs = expand(load_sweep(ROOT / "sweeps" / sweep))
    assert [s.name for s in specs[: len(names)]] == names
    assert len(specs) == len(names) * n_seeds
    assert sorted({s.seed for s in specs}) == list(range(n_seeds))
    by_name = {s.name: s.config.frontend for s in specs}
    assert by_name["pcen-perband"].pcen.per_band and not by_name["pcen"].pcen.per_band
    assert by_name["pcen"].pcen.init == "loop"
    assert by_name["db+pcen+exp"].channel_compressions == ("db", "pcen", "exp")
    for cfg in by_name.values():  # the best Part 1 spectrogram
        assert (cfg.win_length, cfg.hop_length, cfg.scale) == (512, 128, "mel")
    if sweep == "merlin_part2.yaml":
        assert by_name["db+pcen-perband"].channel_compressions == ("db", "pcen")
        assert by_name["db+pcen-perband"].pcen.per_band
        assert by_name["exp-perband"].exp.per_band
        assert by_name["db"].out_channels == 3  # repeated for the ImageNet backbone
        assert by_name["db"].image_size == (128, 512) and by_name["db"].n_mels == 128
        assert specs[0].config.model.name == "resnet50"
    assert specs[0].config.eval.sets == ("test", "field")

    assert main(["plan", str(ROOT / "sweeps" / sweep)]) == 0
    out = capsys.readouterr().out
    for name in names:
        assert f" {name} " in out
    assert f"{len(names)} configurations x {n_seeds} seeds" in out


def test_parameter_summary_of_a_per_band_pcen():
    cfg = FrontendConfig(n_mels=16, compression=("db", "pcen", "exp"), pcen={"per_band": True})
    frontend = build_frontend(cfg)
    summary = parameter_summary(frontend)
    assert set(summary["compressions"]) == {"pcen", "exp"}  # db has nothing to learn
    pcen = summary["compressions"]["pcen"]
    assert pcen["learnable"] is True
    assert {k: len(v) for k, v in pcen["values"].items()} == dict.fromkeys(
        ("smoothing", "gain", "bias", "power", "eps"), 16
    )
    assert np.allclose(pcen["values"]["gain"], 0.98, rtol=1e-5)
    assert summary["compressions"]["exp"]["values"] == {"exponent": [pytest.approx(0.5)]}
    initial = initial_parameter_summary(cfg)
    assert initial["pcen"]["bias"] == 2.0 and initial["exp"]["exponent"] == 0.5
    bands = band_frequencies_hz(frontend)
    assert len(bands) == 16 and all(np.diff(bands) > 0) and 0 < bands[0] < bands[-1] < 11025


TINY = """
name: tiny-frontends
data:
  kind: synthetic
  clip_s: 1.5
  cache_dir: {data}/cache
  synthetic: {{n_species: 4, n_train: 32, n_test: 16, n_field: 16, output_dir: {data}/synthetic}}
frontend: {{win_length: 512, hop_length: 256, scale: mel, n_mels: 16, image_size: [16, 64]}}
model: {{name: mobilenetv3_small_050, pretrained: none}}
train: {{epochs: 1, batch_size: 16, optimizer: sgd, lr: 0.1, weight_decay: 0.0001, schedule: piecewise, milestones: [100], num_workers: 0}}
eval: {{sets: [test, field]}}
grid:
  zip:  # every frontend of merlin_part2.yaml (demo_frontends.yaml's five among them)
    - frontend.compression: [db, exp, exp, pcen, pcen, [db, pcen, exp], [db, pcen]]
      frontend.exp.per_band: [false, false, true, false, false, false, false]
      frontend.pcen.per_band: [false, false, false, false, true, false, true]
"""


def test_a_trial_of_each_frontend_learns_its_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    threads = torch.get_num_threads()
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(data=tmp_path / "data"))
    specs = expand(load_sweep(path))
    assert [s.name for s in specs] == [
        "db", "exp", "exp-perband", "pcen", "pcen-perband", "db+pcen+exp", "db+pcen-perband",
    ]  # fmt: skip
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking)
    try:
        for spec in specs:
            result = run_trial(spec, tracking_uri=tracking, device="cpu", threads=1)
            assert result.finished, (spec.name, result.reason)
            artifacts = {f.path for f in client.list_artifacts(result.run_id)}
            if spec.name == "db":
                assert FRONTEND_PARAMS_ARTIFACT not in artifacts  # nothing to learn
                continue
            local = client.download_artifacts(
                result.run_id, FRONTEND_PARAMS_ARTIFACT, str(tmp_path / spec.name)
            )
            summary = json.loads(Path(local).read_text())
            assert len(summary["band_hz"]) == 16
            for name, entry in summary["compressions"].items():
                assert entry["learnable"]
                for param, values in entry["values"].items():
                    start = entry["initial"][param]
                    per_band = getattr(spec.config.frontend, name).per_band
                    expected = 16 if per_band else 1
                    assert len(values) == expected, (spec.name, param)
                    # One epoch of SGD moves every learnable value off its initialisation (by
                    # more than float32 storage rounds it: ~1e-7 relative).
                    assert np.max(np.abs(np.asarray(values) / start - 1)) > 1e-6, (
                        spec.name,
                        name,
                        param,
                    )
            # The config.yaml artifact reproduces the configuration that was run.
            cfg_local = client.download_artifacts(result.run_id, "config.yaml", str(tmp_path))
            frontend = yaml.safe_load(Path(cfg_local).read_text())["frontend"]
            assert frontend["pcen"]["per_band"] == spec.config.frontend.pcen.per_band
            assert set(summary["compressions"]) == set(
                spec.config.frontend.channel_compressions
            ) - {"db"}
    finally:
        torch.set_num_threads(threads)
