"""One trial end to end on real synthetic audio, a real timm model and a real MLflow sqlite store.

The fast tests train a tiny model on a tiny synthetic set (4 species, 1.5 s clips) for a couple
of epochs; `test_demo_trial_cli` (slow) runs `specsweep trial sweeps/demo.yaml --index 0` as a
process on the real demo sweep.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

from runner.cli import main
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.sweep.spec import TrialConfig
from runner.tracking.trial_runs import flatten_config
from runner.train.checkpoint import checkpoint_dir, load_checkpoint
from runner.train.trial import TrialPruned, failure_reason, run_trial

ROOT = Path(__file__).resolve().parents[2]

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
  lr: {lr}
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


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Synthetic audio and its cache, generated once for the whole session."""
    return tmp_path_factory.mktemp("data")


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


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp: MLflow's artifact folder and .specsweep/checkpoints land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(False)


def run_of(tmp_path: Path, run_id: str):
    return MlflowClient(uri(tmp_path)).get_run(run_id)


# --------------------------------------------------------------------------- a complete run


def test_trial_logs_a_complete_mlflow_run(tmp_path, data_dir):
    spec = tiny_spec(tmp_path, data_dir, epochs=2)
    seen = []
    result = run_trial(
        spec,
        tracking_uri=uri(tmp_path),
        attempt=2,
        extra_tags={"optuna_trial": 7},
        epoch_callback=lambda epoch, metrics: seen.append((epoch, metrics)),
        device="cpu",
        threads=1,
    )
    assert result.status == "FINISHED" and result.reason is None, result
    assert [e for e, _ in seen] == [1, 2]
    assert {"train_loss", "epoch_time_s", "val_map_test", "val_map_field"} <= set(seen[0][1])

    client = MlflowClient(uri(tmp_path))
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"{spec.name}-s0"
    assert client.get_experiment(run.info.experiment_id).name == "tiny"

    tags = run.data.tags
    assert tags["specsweep.kind"] == "trial"
    assert (tags["sweep"], tags["cfg_key"], tags["seed"], tags["attempt"]) == (
        "tiny",
        spec.cfg_key,
        "0",
        "2",
    )
    assert tags["optuna_trial"] == "7" and tags["trial_name"] == spec.name
    assert json.loads(tags["swept"]) == ["frontend.scale"]
    assert tags["frontend_runs_in"] == "loader"  # dB on the CPU: see runner/train/pipeline.py
    assert "reason" not in tags

    # Every resolved config value, under its dotted key; tuples as JSON, None as na.
    params = run.data.params
    expected = {**flatten_config(spec.config), "seed": "0"}
    assert params == expected
    assert params["frontend.image_size"] == "[32, 64]"
    assert params["eval.sets"] == '["test", "field"]'
    assert params["frontend.f_max"] == "na"
    assert params["frontend.pcen.smoothing"] == str(spec.config.frontend.pcen.smoothing)
    assert params["model.name"] == "mobilenetv3_small_050"

    metrics = run.data.metrics
    for name in ("test", "field"):
        assert 0.0 <= metrics[f"map_{name}"] <= 1.0
        assert 0.0 <= metrics[f"micro_ap_{name}"] <= 1.0
        assert metrics[f"map_{name}"] == pytest.approx(result.metrics[f"map_{name}"])
        # Final = the last epoch's evaluation, never the best one.
        assert metrics[f"map_{name}"] == pytest.approx(seen[-1][1][f"val_map_{name}"])
        assert "file_map_" + name not in metrics  # 1.5 s files = one window each
        assert 0.0 <= metrics[f"auc_{name}"] <= 1.0
        assert metrics[f"map_over_prior_{name}"] == pytest.approx(
            metrics[f"map_{name}"] / metrics[f"prior_map_{name}"]
        )
        assert metrics[f"chance_map_{name}"] >= metrics[f"prior_map_{name}"]
        assert metrics[f"classes_in_map_{name}"] + metrics[f"classes_without_positive_{name}"] == 4
    assert metrics["prior_train_loss"] > 0 and metrics["learned"] in (0.0, 1.0)
    assert tags["learned"] == ("yes" if metrics["learned"] else "no") and tags["learned_reason"]
    for key in ("train_time_s", "eval_time_s", "samples_per_s", "peak_mem_mb"):
        assert metrics[key] > 0, key
    n_train = int(tags["n_train"])
    assert metrics["samples_per_s"] == pytest.approx(
        2 * (n_train // 16 * 16) / metrics["train_time_s"]
    )
    history = client.get_metric_history(result.run_id, "val_map_test")
    assert [m.step for m in history] == [1, 2]
    assert [m.step for m in client.get_metric_history(result.run_id, "train_loss")] == [1, 2]
    epoch_times = [m.value for m in client.get_metric_history(result.run_id, "epoch_time_s")]
    assert sum(epoch_times) == pytest.approx(metrics["train_time_s"])

    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert artifacts == {
        "config.yaml", "env.json", "preview.png", "preview.npy",
        "per_class_ap_test.csv", "per_class_ap_field.csv",
    }  # fmt: skip
    local = Path(client.download_artifacts(result.run_id, "", str(tmp_path / "dl")))
    config = yaml.safe_load((local / "config.yaml").read_text())
    assert config.pop("seed") == 0
    assert TrialConfig.from_dict(config) == spec.config  # the run reproduces from its config.yaml
    env = json.loads((local / "env.json").read_text())
    assert env["versions"]["torch"] == torch.__version__ and env["device"] == "cpu"
    assert "commit" in env["git"]
    preview = np.load(local / "preview.npy")
    assert preview.shape == (1, 32, 64) and preview.dtype == np.float32
    rows = (local / "per_class_ap_test.csv").read_text().splitlines()
    assert rows[0] == "class,ap,n_positive" and len(rows) == 1 + 4
    assert (local / "preview.png").read_bytes()[:4] == b"\x89PNG"

    # A finished trial leaves no checkpoint behind.
    assert not checkpoint_dir(".specsweep/checkpoints", "tiny", spec.cfg_key, 0).exists()


def test_tiny_model_learns_well_above_the_label_prior(tmp_path, data_dir):
    """A real learnability check: the clips carry the labels, and the model finds them."""
    # A zero output bias: with SGD on these 4 easy classes the prior bias measured MAP 0.54
    # (seed 0) and 0.67 (seed 1) against 0.84 and 0.67 from zero (benchmarks/RESULTS.md, issue 15).
    spec = tiny_spec(tmp_path, data_dir, epochs=10, lr=0.05, n_train=128, every=10, bias="zero")
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)
    assert result.finished, result
    m = result.metrics
    # The prior scores every clip alike, so its MAP is the mean class prevalence in the set
    # (0.38 here); measured: MAP 0.84 after 10 epochs.
    assert m["prior_map_test"] < 0.5
    assert m["map_test"] > m["prior_map_test"] + 0.25, m
    assert m["learned"] == 1.0 and result.learned_reason.startswith("MAP"), result.learned_reason
    assert run_of(tmp_path, result.run_id).data.tags["learned"] == "yes"


def test_a_trial_trained_with_lr_0_is_tagged_learned_no(tmp_path, data_dir):
    spec = tiny_spec(tmp_path, data_dir, epochs=2, lr=0.0)
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)
    assert result.finished, result
    assert result.metrics["learned"] == 0.0
    tags = run_of(tmp_path, result.run_id).data.tags
    assert tags["learned"] == "no" and tags["learned_reason"] == result.learned_reason
    # Nothing was learned, so the loss cannot have left the prior's plateau.
    assert "plateau" in result.learned_reason, result.learned_reason
    assert "\n" not in result.learned_reason

    # The report of this sweep, read back from the store, opens with the warning.
    from reports import write_report
    from runner.tracking.runs import connect, read_sweep

    table = read_sweep(connect(uri(tmp_path)), "tiny")
    write_report(table, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    paragraphs = [p for p in md.split("\n\n") if p.strip()]
    warning = paragraphs[2]  # after the title and the "Runs read from" line
    assert warning.startswith("WARNING: No configuration learned much: best MAP on test "), md
    ratio = result.metrics["map_test"] / result.metrics["prior_map_test"]
    assert f"= {ratio:.1f}x the label prior" in warning
    assert "1 of 1 finished trials are tagged learned=no" in warning
    assert "not meaningful" in warning and "optimizer: adamw" in warning


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("compression", ["db", "pcen"])
def test_cuda_trial_with_bf16_channels_last_and_compile(tmp_path, data_dir, compression):
    """The GPU recipe: bf16 autocast and channels_last (the `auto` defaults on CUDA), a compiled
    backbone, the frontend in the step (fixed dB, and learnable PCEN through bf16 autocast)."""
    spec = tiny_spec(tmp_path, data_dir, epochs=10, lr=0.05, n_train=128, every=5)
    cfg = spec.config.to_dict()
    cfg["train"].update(compile=True, deterministic=False, num_workers=1)
    cfg["frontend"]["compression"] = compression
    spec = dataclasses.replace(spec, config=TrialConfig.from_dict(cfg))
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cuda")
    assert result.finished, result
    m = result.metrics
    assert m["map_test"] > m["prior_map_test"] + 0.25, m
    assert 0 < m["peak_mem_mb"] < torch.cuda.get_device_properties(0).total_memory / 2**20
    tags = run_of(tmp_path, result.run_id).data.tags
    assert tags["frontend_runs_in"] == "step" and tags["num_workers"] == "1"


# --------------------------------------------------------------------------- failures


def test_diverging_loss_fails_as_nan_loss(tmp_path, data_dir):
    spec = tiny_spec(tmp_path, data_dir, epochs=2, lr=1e12)
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)
    assert (result.status, result.reason) == ("FAILED", "nan_loss")
    run = run_of(tmp_path, result.run_id)
    assert run.info.status == "FAILED" and run.data.tags["reason"] == "nan_loss"
    assert not any(k.startswith("map_") for k in run.data.metrics)  # never looks finished


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize(
    "raise_, status, reason",
    [
        (TrialPruned("epoch 1 is below the median"), "KILLED", "pruned"),
        (MemoryError(), "FAILED", "oom"),
        (Boom("disk on fire"), "FAILED", "error: Boom: disk on fire"),
    ],
)
def test_exceptions_end_the_run_with_a_reason(tmp_path, data_dir, raise_, status, reason):
    spec = tiny_spec(tmp_path, data_dir, epochs=2)

    def callback(epoch, metrics):
        raise raise_

    result = run_trial(
        spec, tracking_uri=uri(tmp_path), epoch_callback=callback, device="cpu", threads=1
    )
    assert (result.status, result.reason, result.epochs_done) == (status, reason, 1)
    assert result.metrics == {} and not result.user_error  # crashes and OOM may be retried
    run = run_of(tmp_path, result.run_id)
    assert run.info.status == status and run.data.tags["reason"] == reason
    assert not any(k.startswith(("map_", "train_time_s")) for k in run.data.metrics)
    kept = load_checkpoint(checkpoint_dir(".specsweep/checkpoints", "tiny", spec.cfg_key, 0))
    assert (kept is None) == (reason == "pruned")  # a failure can be retried, pruning is final


def test_failure_reasons():
    assert failure_reason(torch.cuda.OutOfMemoryError("CUDA out of memory")) == ("FAILED", "oom")
    assert failure_reason(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")) == (
        "FAILED", "oom",
    )  # fmt: skip
    assert failure_reason(KeyboardInterrupt()) == ("KILLED", "interrupted")
    assert failure_reason(ValueError("bad\nsecond line")) == ("FAILED", "error: ValueError: bad")


def test_a_broken_dataset_still_leaves_a_failed_run(tmp_path, data_dir):
    path = tmp_path / "s.yaml"
    path.write_text(
        TINY.format(data=data_dir, epochs=1, lr=0.1, n_train=64, every=1, bias="prior").replace(
            "sets: [test, field]", "sets: [nope]"
        )
    )
    spec = expand(load_sweep(path))[0]
    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1)
    assert result.status == "FAILED" and result.reason.startswith("error: ")
    assert "nope" in result.reason
    assert result.user_error  # the data's fault: a sweep does not retry it
    assert run_of(tmp_path, result.run_id).data.tags["reason"] == result.reason


# --------------------------------------------------------------------------- preemption


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, data_dir):
    spec = tiny_spec(tmp_path, data_dir, epochs=3)
    straight = run_trial(
        spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, checkpoint_root=tmp_path / "a"
    )
    assert straight.finished

    def preempt(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would, after epoch 2's checkpoint

    with pytest.raises(KeyboardInterrupt):
        run_trial(
            spec, tracking_uri=uri(tmp_path), device="cpu", threads=1,
            checkpoint_root=tmp_path / "b", epoch_callback=preempt,
        )  # fmt: skip
    client = MlflowClient(uri(tmp_path))
    first = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string="attributes.status = 'KILLED'",
    )
    assert len(first) == 1 and first[0].data.tags["reason"] == "interrupted"
    assert load_checkpoint(checkpoint_dir(tmp_path / "b", "tiny", spec.cfg_key, 0))["epoch"] == 2

    resumed = run_trial(
        spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, checkpoint_root=tmp_path / "b",
        attempt=2,
    )  # fmt: skip
    assert resumed.finished and resumed.resumed_from_epoch == 2
    for key in ("map_test", "map_field", "micro_ap_test"):
        assert resumed.metrics[key] == straight.metrics[key], key
    losses = [e["metrics"]["train_loss"] for e in resumed.history]
    assert losses == [e["metrics"]["train_loss"] for e in straight.history]
    # The new run holds all three epochs' curves, including the ones the first attempt trained.
    steps = [m.step for m in client.get_metric_history(resumed.run_id, "train_loss")]
    assert steps == [1, 2, 3]
    assert client.get_run(resumed.run_id).data.tags["resumed_from_epoch"] == "2"


@pytest.mark.slow
def test_a_dead_attempts_run_is_marked_interrupted_on_resume(tmp_path, data_dir):
    """A process killed hard (no chance to end its run) leaves it RUNNING; the resume ends it."""
    spec = tiny_spec(tmp_path, data_dir, epochs=2)
    script = textwrap.dedent(f"""
        import os
        from runner.sweep.load import load_sweep
        from runner.sweep.grid import expand
        from runner.train.trial import run_trial
        spec = expand(load_sweep({str(tmp_path / "tiny.yaml")!r}))[0]
        run_trial(spec, tracking_uri={uri(tmp_path)!r}, device="cpu", threads=1,
                  epoch_callback=lambda e, m: os._exit(9))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    client = MlflowClient(uri(tmp_path))
    experiment = client.get_experiment_by_name("tiny").experiment_id
    (dead,) = client.search_runs([experiment])
    assert dead.info.status == "RUNNING"

    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, attempt=2)
    assert result.finished and result.resumed_from_epoch == 1
    dead = client.get_run(dead.info.run_id)
    assert dead.info.status == "KILLED" and dead.data.tags["reason"] == "interrupted"
    assert dead.data.tags["resumed_by"] == result.run_id


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
        assert "no CUDA device is visible here" in capsys.readouterr().err
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
