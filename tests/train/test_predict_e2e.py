"""From a sweep to scored recordings, as a user does it (slow: `make test-slow`).

`specsweep sweep` (real supervisor and trial processes) trains one small configuration long enough
to learn the synthetic species, logs its model when the sweep ends (`log_model: best`, registered
with `register_as`); `specsweep predict models:/<name>/1` then scores a long synthetic recording
with one species planted in known windows, and the planted species must score higher in those
windows than in the others.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from helpers.tiny_sweep import tiny_sections
from mlflow import MlflowClient

from runner.data.synthetic import render_recording, species_names

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "low_hoot"


def specsweep(tmp_path: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_sweep_logs_a_model_that_predict_uses(tmp_path):
    sections = tiny_sections(tmp_path / "data", epochs=8)
    sections["data"]["synthetic"].update(n_species=6, n_train=192, n_test=48)
    sections["grid"] = {"axes": {"frontend.scale": ["mel"]}}
    raw = {
        "name": "e2e-predict",
        **sections,
        "tracking": {
            "uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "register_as": "birds",
            "system_metrics_s": 2,
        },
        "resources": {"slots": 1},
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    done = specsweep(tmp_path, "sweep", "s.yaml", "--no-live")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registered the overall best as birds version 1" in done.stdout
    assert "viewStateShareKey=specsweep" in done.stdout

    client = MlflowClient(raw["tracking"]["uri"])
    exp = client.get_experiment_by_name("e2e-predict")
    (run,) = client.search_runs([exp.experiment_id], "tags.`specsweep.kind` = 'trial'")
    assert run.data.tags["config"] == "mel"
    assert len(client.search_logged_models([exp.experiment_id])) == 1
    assert any(k.startswith("system/cpu") for k in run.data.metrics)

    # 12 s of background with the planted species in the windows starting at 3.0 s and 7.5 s
    clip_s, classes = 1.5, species_names(6)
    x = render_recording(12.0, [(PLANTED, 3.2), (PLANTED, 7.7)], seed=3, snr_db=15.0)
    audio = tmp_path / "field"
    audio.mkdir()
    sf.write(audio / "dawn.flac", x, 22050)
    out = tmp_path / "scores.csv"
    done = specsweep(
        tmp_path, "predict", "models:/birds/1", str(audio), "--out", str(out),
        "--raven", str(tmp_path / "raven"), "--tracking-uri", raw["tracking"]["uri"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8  # 12 s / 1.5 s
    assert [float(r["start_s"]) for r in rows] == [i * clip_s for i in range(8)]
    assert list(rows[0])[3:] == list(classes)
    score = np.array([float(r[PLANTED]) for r in rows])
    planted = np.isin(np.arange(8), [2, 5])  # the windows [3.0, 4.5) and [7.5, 9.0)
    assert score[planted].min() > score[~planted].max(), score.round(3)
    assert (tmp_path / "raven" / "dawn.Table.1.selections.txt").is_file()

    # `specsweep ui`: the UI comes up on the store and the printed link names the stored view
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "runner.cli", "ui", "s.yaml", "--port", str(port), "--no-browser"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines = []  # ours, possibly among MLflow's own (its child shares the stdout)
        while not any("runs best first" in line for line in lines) and len(lines) < 50:
            lines.append(ui.stdout.readline())
        link = next(line for line in lines if "runs best first" in line).split()[-1]
        assert link.startswith(f"http://127.0.0.1:{port}/#/experiments/{exp.experiment_id}/runs?")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        ui.terminate()
        assert ui.wait(timeout=60) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
