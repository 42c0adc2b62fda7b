"""The hard synthetic preset reproduces the collapse to the label prior, and the demo's recipe
clears it (slow: the 520 clips generated, then two real 8-epoch trials on 360 clips, about 2-4 minutes on a 2-core CPU).

Budget and recipes as in benchmarks/bench_recipe.py (48x128 images, mobilenetv3_small_050 from
scratch, seed 0), where the Merlin study's recipe measured 2.0-2.6x the prior MAP over three seeds and
AdamW + cosine + prior bias 4.8-5.9x (benchmarks/RESULTS.md, issue 15).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from runner.data import DataConfig, SyntheticConfig, load_dataset
from runner.data.synthetic import render_clip, settings_hash, species_names
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.train.trial import run_trial

OLD = {
    "optimizer": "sgd", "lr": 0.1, "weight_decay": 0.0001, "schedule": "piecewise",
    "milestones": [6], "head_bias_init": "zero",
}  # fmt: skip
NEW = {
    "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.01, "schedule": "cosine",
    "warmup_epochs": 1, "head_bias_init": "prior",
}  # fmt: skip


def hard_spec(tmp_path, data_dir, recipe: dict, name: str):
    raw = {
        "name": name,
        "data": {
            "kind": "synthetic",
            "cache_dir": str(data_dir / "cache"),
            "synthetic": {"preset": "hard", "output_dir": str(data_dir / "synthetic")},
        },
        "frontend": {
            "win_length": 512,
            "hop_length": 256,
            "scale": "mel",
            "n_mels": 48,
            "image_size": [48, 128],
        },
        "model": {"name": "mobilenetv3_small_050", "pretrained": "none"},
        "train": {"epochs": 8, "batch_size": 32, "num_workers": 0, **recipe},
        "eval": {"sets": ["test"], "every_n_epochs": 8},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return expand(load_sweep(path))[0]


def test_hard_preset_settings_and_clips():
    cfg = SyntheticConfig(preset="hard")
    assert (cfg.n_species, cfg.n_train, cfg.n_test, cfg.n_field) == (88, 360, 160, 0)
    assert SyntheticConfig(preset="hard", n_species=96, n_train=500).n_train == 500
    with pytest.raises(ValueError, match=r"^n_species: 97 is outside 2..96"):
        SyntheticConfig(preset="hard", n_species=97)
    with pytest.raises(ValueError, match=r"preset: hard has 96"):
        SyntheticConfig(n_species=20)
    names = species_names(88, "hard")
    assert names[0] == "whistle_lo_x100" and names[16] == "whistle_lo_x84" and len(set(names)) == 88
    lengths, calls = [], []
    for i in range(100, 112):  # past the first 88 clips, which hold one forced class each
        x, c = render_clip(cfg, 3.0, "train", i)
        lengths.append(x.size / cfg.sample_rate)
        calls.append(c)
    assert min(lengths) >= 1.0 and max(lengths) <= 3.0 and max(lengths) - min(lengths) > 0.5
    assert all(-5 <= call["snr_db"] <= 10 for c in calls for call in c)
    assert {len(c) for c in calls} <= {0, 1, 2, 3}
    # The default preset's folders are unchanged by the preset option (no regeneration).
    assert settings_hash(SyntheticConfig(), 3.0) == "29dd185fd545"  # as before presets existed
    assert settings_hash(cfg, 3.0) != "29dd185fd545"


@pytest.mark.slow
def test_hard_preset_is_small_many_class_multi_label_data(tmp_path):
    cfg = DataConfig(synthetic=SyntheticConfig(preset="hard", output_dir=str(tmp_path / "s")))
    data = load_dataset(cfg, 22050, ("test",), seed=0)
    targets = data.train.targets
    per_class = targets.sum(axis=0)
    assert len(data.classes) == 88 and len(data.train) == 360 and len(data.eval["test"]) == 160
    assert per_class.min() >= 2 and 5 <= np.median(per_class) <= 10
    labels = targets.sum(axis=1)
    assert 1.5 < labels.mean() < 2.0 and (labels == 0).mean() > 0.05 and labels.max() == 3
    assert data.classes[0] == "whistle_lo_x100"


@pytest.mark.slow
def test_old_recipe_stays_at_the_prior_and_the_demo_recipe_clears_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    data_dir = tmp_path / "data"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    old = run_trial(hard_spec(tmp_path, data_dir, OLD, "old"), tracking_uri=uri, threads=1)
    new = run_trial(hard_spec(tmp_path, data_dir, NEW, "new"), tracking_uri=uri, threads=1)
    assert old.finished and new.finished
    o, n = old.metrics, new.metrics
    assert o["map_over_prior_test"] < 3.0, o
    assert o["learned"] == 0.0 and "plateau" in old.learned_reason
    assert n["map_over_prior_test"] >= 3.0, n
    assert n["learned"] == 1.0, new.learned_reason
    assert n["auc_test"] > o["auc_test"]
