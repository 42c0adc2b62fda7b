"""Training recipe pieces: the learning-rate schedule, weight decay groups, configs, checkpoints."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from runner.sweep.train_config import EvalConfig, TrainConfig
from runner.train.checkpoint import (
    CHECKPOINT_FILE,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from runner.train.loop import lr_at, make_optimizer


def test_piecewise_constant_schedule_with_warmup():
    cfg = TrainConfig(epochs=10, lr=0.1, schedule="piecewise", milestones=(3, 6), lr_factor=0.1)
    lrs = [lr_at(cfg, epoch, 0, 5) for epoch in range(10)]
    assert lrs == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 4)  # as torch's MultiStepLR
    warm = TrainConfig(epochs=10, lr=0.1, schedule="piecewise", milestones=(6,), warmup_epochs=2)
    ramp = [lr_at(warm, e, s, 5) for e in range(3) for s in range(5)]
    assert ramp[:10] == pytest.approx([0.1 * (i + 1) / 10 for i in range(10)])
    assert ramp[10:] == pytest.approx([0.1] * 5)


def test_weight_decay_skips_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    opt = make_optimizer(model, TrainConfig(optimizer="sgd", weight_decay=0.01, nesterov=True))
    decay, no_decay = opt.param_groups
    assert [p.ndim for p in decay["params"]] == [4] and decay["weight_decay"] == 0.01
    assert len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_weight_decay_skips_the_frontends_learnable_values():
    from frontends import FrontendConfig
    from models.classifier import create_classifier
    from models.config import ModelConfig

    cfg = FrontendConfig(n_mels=16, compression=("pcen", "exp"), pcen={"per_band": True})
    model = create_classifier(cfg, ModelConfig(name="mobilenetv3_small_050"), 4)
    decay, no_decay = make_optimizer(model, TrainConfig(weight_decay=0.01)).param_groups
    frontend = {id(p) for p in model.frontend.parameters()}
    assert len(frontend) == 6  # five PCEN values (per band, rank 2) and exp's a (1, 1)
    assert not frontend & {id(p) for p in decay["params"]}
    assert frontend <= {id(p) for p in no_decay["params"]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(milestones=(60, 30)), "milestones: [60, 30] must be increasing"),
        (dict(batch_size=1), "batch_size: 1 must be at least 2"),
        (dict(nesterov=True, momentum=0.0), "nesterov: true needs momentum > 0"),
        (dict(epochs=4, warmup_epochs=4), "warmup_epochs: 4 must be >= 0 and less than epochs"),
        (dict(grad_clip=0.0), "grad_clip: 0.0 must be > 0"),
    ],
)
def test_train_config_errors_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        TrainConfig(**kwargs)


def test_eval_config_errors():
    with pytest.raises(ValueError, match="sets: empty"):
        EvalConfig(sets=())
    with pytest.raises(ValueError, match=r"sets: \['test', 'test'\] names a set twice"):
        EvalConfig(sets=("test", "test"))


def test_checkpoint_roundtrip_is_atomic_and_restores_generators(tmp_path):
    assert load_checkpoint(tmp_path) is None
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    save_checkpoint(tmp_path, {"epoch": 2, "weights": torch.arange(4.0), "rng": state,
                               "history": [{"epoch": 1, "metrics": {"loss": 0.5}}]})  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]  # no temporary left
    loaded = load_checkpoint(tmp_path)
    assert loaded["epoch"] == 2 and torch.equal(loaded["weights"], torch.arange(4.0))
    assert loaded["history"] == [{"epoch": 1, "metrics": {"loss": 0.5}}]
    torch.rand(10), np.random.rand(10), random.random()  # move every generator on
    set_rng_state(loaded["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path, {"epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed mid-write"):
        save_checkpoint(tmp_path, {"epoch": 2, "bad": Unpicklable()})
    assert load_checkpoint(tmp_path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]
