"""The tiny trial the tests of one trial share: a 2-point sweep (`frontend.scale`: mel, linear)
of a tiny timm model on tiny synthetic audio (4 species, 1.5 s clips), its MLflow store a sqlite
file in the test's folder.

    spec = tiny_spec(tmp_path, data_dir, epochs=2)    # also writes tmp_path / "tiny.yaml"
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)
    run = run_of(tmp_path, result.run_id)
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from runner.sweep.grid import expand
from runner.sweep.load import load_sweep

TINY = """
name: tiny
data:
  kind: synthetic
  clip_s: 1.5
  cache_dir: {data}/cache
  synthetic: {{n_species: 4, n_train: {n_train}, n_test: 32, n_field: 16, output_dir: {data}/synthetic}}
frontend: {{sample_rate: 22050, win_length: 512, hop_length: 256, scale: mel, n_mels: 32, image_size: [32, 64]}}
model: {{name: mobilenetv3_small_050, pretrained: none}}
train:
  epochs: {epochs}
  batch_size: 16
  optimizer: sgd
  lr: {lr}
  weight_decay: 0.0001
  schedule: piecewise
  milestones: [100]
  head_bias_init: {bias}
  num_workers: 0
  deterministic: true
eval: {{sets: [test, field], every_n_epochs: {every}}}
grid:
  axes:
    frontend.scale: [mel, linear]
seeds: [0]
"""


def tiny_spec(
    tmp_path: Path, data_dir: Path, *, epochs=2, lr=0.1, index=0, n_train=64, every=1, bias="prior"
):
    path = tmp_path / "tiny.yaml"
    path.write_text(
        TINY.format(data=data_dir, epochs=epochs, lr=lr, n_train=n_train, every=every, bias=bias)
    )
    return expand(load_sweep(path))[index]


def uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def run_of(tmp_path: Path, run_id: str):
    return MlflowClient(uri(tmp_path)).get_run(run_id)
