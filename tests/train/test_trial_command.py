"""`specsweep trial` and `specsweep probe` on the tiny trial of `helpers.tiny_trial`;
`test_demo_trial_cli` (slow) runs `specsweep trial sweeps/demo.yaml --index 0` as a process on
the real demo sweep.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.tiny_trial import run_of, tiny_spec, uri
from mlflow import MlflowClient

from runner.cli import main

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("in_tmp")

# --------------------------------------------------------------------------- the command


def test_trial_command_runs_one_trial(tmp_path, data_dir, capsys):
    tiny_spec(tmp_path, data_dir, epochs=1)  # writes tiny.yaml
    code = main(["trial", str(tmp_path / "tiny.yaml"), "--name", "linear",
                 "--tracking-uri", uri(tmp_path), "--device", "cpu", "--threads", "1",
                 "--result-json", str(tmp_path / "r.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "epoch 1/1  loss " in out and "val_map test " in out and "FINISHED  map_test" in out
    result = json.loads((tmp_path / "r.json").read_text())
    run = run_of(tmp_path, result["run_id"])
    assert run.data.tags["trial_name"] == "linear" and run.info.status == "FINISHED"


def test_trial_command_user_errors(tmp_path, data_dir, capsys):
    tiny_spec(tmp_path, data_dir)
    sweep = str(tmp_path / "tiny.yaml")
    assert main(["trial", sweep, "--index", "5"]) == 2
    assert "--index 5: the sweep has 2 trials" in capsys.readouterr().err
    assert main(["trial", sweep, "--name", "mell"]) == 2
    assert "did you mean 'mel'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["trial", sweep, "--index", "0", "--device", "cuda"]) == 2
        assert "can use no GPU here" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"  # the data fails inside the trial: exit 2 too, with the row
    bad.write_text((tmp_path / "tiny.yaml").read_text().replace("sets: [test", "sets: [nope"))
    assert main(["trial", str(bad), "--index", "0", "--device", "cpu", "--threads", "1"]) == 2
    assert "split 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trial_cli(tmp_path):
    """`specsweep trial sweeps/demo.yaml --index 0` as a user runs it: default store, real data."""
    env = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "demo.yaml").write_text((ROOT / "sweeps" / "demo.yaml").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "runner.cli", "trial", "sweeps/demo.yaml", "--index", "0",
         "--device", "cpu", "--threads", "1", "--result-json", "r.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "mlflow.db").is_file()
    result = json.loads((tmp_path / "r.json").read_text())
    m = result["metrics"]
    print(json.dumps(m, indent=1))
    assert m["map_test"] > m["prior_map_test"] + 0.3, m
    assert math.isfinite(m["train_time_s"])


# --------------------------------------------------------------------------- specsweep probe


def test_probe_runs_the_base_configuration_over_optimizer_x_lr(tmp_path, data_dir, capsys):
    tiny_spec(tmp_path, data_dir, epochs=4)  # writes tiny.yaml (milestones [100], 4 epochs)
    code = main(["probe", str(tmp_path / "tiny.yaml"), "--epochs", "1", "--lrs", "0.01",
                 "--tracking-uri", uri(tmp_path), "--device", "cpu", "--threads", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 trials of mel (seed 0), 1 epoch(s) each" in out and "by MAP on 'test':" in out
    assert ("fastest learner: " in out) != ("no probe trial learned much in 1 epoch(s)" in out)
    client = MlflowClient(uri(tmp_path))
    experiment = client.get_experiment_by_name("tiny-probe").experiment_id
    runs = client.search_runs([experiment])
    assert sorted(r.info.run_name for r in runs) == ["adamw-lr0.01-s0", "sgd-lr0.01-s0"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.params["train.epochs"] == "1"
        assert run.data.params["frontend.scale"] == "mel"
        assert run.data.params["train.milestones"] == "[]" and run.data.tags["learned"]
    assert {r.data.params["train.optimizer"] for r in runs} == {"sgd", "adamw"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lrs", "-1"], "--lrs -1: a learning rate must be a positive number"),
        (["--epochs", "0"], "--epochs 0: must be at least 1"),
    ],
)
def test_probe_user_errors(tmp_path, data_dir, capsys, args, message):
    tiny_spec(tmp_path, data_dir)
    assert main(["probe", str(tmp_path / "tiny.yaml"), *args]) == 2
    assert capsys.readouterr().err.strip() == f"specsweep: error: {message}"
