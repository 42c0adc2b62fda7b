"""Recipe options: optimizers, schedules, losses, positive weights, the output bias, and the
"did it learn?" verdict. Real torch modules and losses, checked against closed forms and torch's
own schedulers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F

from runner.errors import ConfigError
from runner.sweep.load import load_sweep
from runner.sweep.train_config import TrainConfig
from runner.train.loop import lr_at, make_optimizer
from runner.train.recipe import (
    balanced_pos_weight,
    init_head_bias,
    learned_verdict,
    make_loss,
    prior_logits,
    prior_loss,
)

TARGETS = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 1]], dtype=np.float32)


def test_prior_logits_are_the_log_odds_of_the_training_frequencies():
    assert prior_logits(TARGETS) == pytest.approx(
        [math.log(0.75 / 0.25), math.log(0.25 / 0.75), math.log(0.25 / 0.75)]
    )


@pytest.mark.parametrize("name", ["mobilenetv3_small_050", "resnet18"])
@pytest.mark.parametrize("mode", ["prior", "zero", "timm"])
def test_head_bias_init_sets_the_classifier_bias(name, mode):
    torch.manual_seed(0)
    backbone = timm.create_model(name, pretrained=False, num_classes=3, in_chans=1)
    before = backbone.get_classifier().bias.detach().clone()
    init_head_bias(backbone, TARGETS, mode)
    bias = backbone.get_classifier().bias.detach()
    expected = {"prior": torch.tensor(prior_logits(TARGETS)), "zero": torch.zeros(3)}
    assert torch.allclose(bias.double(), expected.get(mode, before).double(), atol=1e-6)
    # A prior-initialised model predicts the training frequencies for any input (zero features
    # would give exactly that; random ones give about that).
    if mode == "prior":
        backbone.eval()
        probs = torch.sigmoid(backbone(torch.zeros(2, 1, 32, 64)))
        assert probs.shape == (2, 3)


def test_prior_loss_is_the_label_entropy_for_bce():
    freq = TARGETS.mean(axis=0)
    entropy = -(freq * np.log(freq) + (1 - freq) * np.log(1 - freq)).mean()
    loss_fn = make_loss(TrainConfig(), TARGETS)
    assert prior_loss(loss_fn, TARGETS) == pytest.approx(entropy, rel=1e-5)


@pytest.mark.parametrize(
    "loss, pos_weight", [("focal", "none"), ("asl", "none"), ("bce", "balanced")]
)
def test_prior_loss_of_other_losses_is_their_best_constant_prediction(loss, pos_weight):
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 6)) < [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]).astype(np.float32)
    targets[0] = 1  # every class has a positive
    cfg = TrainConfig(loss=loss, pos_weight=pos_weight)
    loss_fn = make_loss(cfg, targets)
    plateau = prior_loss(loss_fn, targets)
    t = torch.as_tensor(targets)
    at_prior = float(loss_fn(torch.as_tensor(prior_logits(targets)).float().expand_as(t), t))
    assert plateau <= at_prior
    # No constant does better: a grid search over each class's logit on its own.
    grid = torch.linspace(-8, 8, 801)
    best = 0.0
    for j in range(6):
        one_class = make_loss(cfg, targets[:, [j]])  # its own positive weight
        per_logit = [
            float(one_class(grid[i].expand(len(t), 1), t[:, [j]])) for i in range(len(grid))
        ]
        best += min(per_logit) / 6
    assert plateau == pytest.approx(best, rel=2e-3)


def test_losses_match_their_closed_forms():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 3), (torch.rand(6, 3) < 0.4).float()
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    focal = make_loss(TrainConfig(loss="focal", focal_gamma=2.0), TARGETS)(logits, target)
    p_t = p * target + (1 - p) * (1 - target)
    assert focal == pytest.approx(float((bce * (1 - p_t) ** 2).mean()), rel=1e-5)
    # Focal with gamma 0 and ASL with no focusing and no clip are plain BCE.
    assert make_loss(TrainConfig(loss="focal", focal_gamma=0.0), TARGETS)(
        logits, target
    ) == pytest.approx(float(bce.mean()), rel=1e-5)
    plain = TrainConfig(loss="asl", asl_gamma_neg=0.0, asl_gamma_pos=0.0, asl_clip=0.0)
    assert make_loss(plain, TARGETS)(logits, target) == pytest.approx(float(bce.mean()), rel=1e-5)
    asl = make_loss(TrainConfig(loss="asl"), TARGETS)(logits, target)  # gn 4, gp 1, clip 0.05
    p_m = (p - 0.05).clamp(min=0)
    expected = -(
        target * (1 - p) * torch.log(p) + (1 - target) * p_m**4 * torch.log(1 - p_m)
    ).mean()
    assert asl == pytest.approx(float(expected), rel=1e-5)


def test_balanced_pos_weight_weighs_positives_by_negatives_over_positives():
    weight = balanced_pos_weight(TARGETS)
    assert weight.tolist() == [1 / 3, 3.0, 3.0]
    torch.manual_seed(1)
    logits, target = torch.randn(5, 3), (torch.rand(5, 3) < 0.5).float()
    cfg = TrainConfig(pos_weight="balanced")
    expected = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=torch.tensor(weight, dtype=torch.float32)
    )
    assert make_loss(cfg, TARGETS)(logits, target) == pytest.approx(float(expected), rel=1e-6)
    # The focal loss with gamma 0 and balanced weights is the weighted BCE too.
    focal = make_loss(TrainConfig(loss="focal", focal_gamma=0.0, pos_weight="balanced"), TARGETS)
    assert focal(logits, target) == pytest.approx(float(expected), rel=1e-5)


def test_adamw_optimizer_with_betas_and_decay_only_on_weights():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    cfg = TrainConfig(optimizer="adamw", lr=0.002, betas=(0.8, 0.99), weight_decay=0.05)
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.AdamW)
    decayed = [g for g in opt.param_groups if g["weight_decay"] > 0]
    assert len(decayed) == 1 and decayed[0]["params"][0].ndim == 2
    assert opt.param_groups[0]["betas"] == (0.8, 0.99) and opt.param_groups[0]["lr"] == 0.002
    assert isinstance(make_optimizer(model, TrainConfig(optimizer="sgd")), torch.optim.SGD)


def test_the_default_recipe_is_the_one_that_learned_on_small_data():
    """AdamW 0.003 (wd 0.01), cosine after one warm-up epoch, prior bias (benchmarks/RESULTS.md);
    the warm-up resolves to a number, 0 where one epoch of warm-up cannot fit or does not apply."""
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.schedule) == (
        "adamw",
        0.003,
        0.01,
        "cosine",
    )
    assert cfg.warmup_epochs == 1.0 and cfg.head_bias_init == "prior"
    assert TrainConfig(epochs=1).warmup_epochs == 0.0
    assert TrainConfig(schedule="piecewise").warmup_epochs == 0.0
    assert TrainConfig(schedule="onecycle").warmup_epochs == 0.0  # its own 30% rise
    assert TrainConfig(warmup_epochs=2).warmup_epochs == 2


def _schedule(cfg: TrainConfig, steps: int) -> list[float]:
    return [lr_at(cfg, e, s, steps) for e in range(cfg.epochs) for s in range(steps)]


def test_cosine_schedule_matches_torch_after_a_linear_warmup():
    cfg = TrainConfig(epochs=5, lr=0.1, schedule="cosine", warmup_epochs=1)
    ours = _schedule(cfg, 4)
    assert ours[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])  # warm-up, one epoch of 4 steps
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=16)
    theirs = []
    for _ in range(16):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert ours[4:] == pytest.approx(theirs, abs=1e-12)


def test_onecycle_schedule_matches_torch():
    cfg = TrainConfig(epochs=4, lr=0.05, schedule="onecycle")
    ours = _schedule(cfg, 10)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.05, total_steps=40, cycle_momentum=False
    )
    theirs = []
    for _ in range(40):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert ours[0] == pytest.approx(0.05 / 25) and max(ours) == pytest.approx(0.05)


def test_piecewise_schedule_is_unchanged():
    cfg = TrainConfig(epochs=4, lr=0.1, schedule="piecewise", milestones=(2,), lr_factor=0.1)
    assert _schedule(cfg, 2) == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.01])


def _history(losses):
    return [{"epoch": i + 1, "metrics": {"train_loss": v}} for i, v in enumerate(losses)]


def test_learned_verdict_needs_map_over_the_prior_and_a_loss_below_the_plateau():
    good = {"map_test": 0.30, "map_over_prior_test": 10.0}
    yes = learned_verdict(good, _history([0.7, 0.1, 0.05]), 0.095, "test")
    assert yes.learned and yes.tag == "yes" and "10.0x the label prior" in yes.reason
    low_map = learned_verdict(
        {"map_test": 0.03, "map_over_prior_test": 1.4}, _history([0.7, 0.05]), 0.095, "test"
    )
    assert not low_map.learned and "under 1.5x" in low_map.reason
    plateau = learned_verdict(good, _history([0.69, 0.2, 0.095, 0.093]), 0.095, "test")
    assert not plateau.learned and "plateau" in plateau.reason and "0.98x" in plateau.reason
    nan = learned_verdict({"map_test": math.nan}, _history([0.1]), 0.095, "test")
    assert not nan.learned


@pytest.mark.parametrize(
    "train, message",
    [
        ({"optimizer": "adam"}, "train.optimizer: 'adam' (string) is not allowed; use one of "
         "'sgd', 'adamw'; did you mean 'adamw'?"),
        ({"schedule": "cosin"}, "did you mean 'cosine'?"),
        ({"loss": "focall"}, "did you mean 'focal'?"),
        ({"head_bias_init": "priors"}, "did you mean 'prior'?"),
        ({"betas": [0.9, 1.0]}, "train.betas: [0.9, 1.0] must both be in [0, 1)"),
        ({"focal_gamma": -1}, "train.focal_gamma: -1.0 must be >= 0"),
        ({"optimizer": "adamw", "nesterov": True}, "nesterov: true is an SGD setting"),
        ({"lr": -0.1}, "train.lr: -0.1 must be a number >= 0"),
    ],
)  # fmt: skip
def test_recipe_mistakes_are_one_line_errors(tmp_path, train, message):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "train": train}))
    with pytest.raises(ConfigError) as err:
        load_sweep(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_recipe_options_are_sweepable_grid_axes(tmp_path):
    from runner.sweep.grid import expand

    path = tmp_path / "grid.yaml"
    path.write_text(
        "name: g\ngrid:\n  axes:\n    train.optimizer: [sgd, adamw]\n"
        "    train.loss: [bce, asl]\n    train.head_bias_init: [prior, zero]\n"
    )
    specs = expand(load_sweep(path))
    assert len(specs) == 8
    assert {s.config.train.optimizer for s in specs} == {"sgd", "adamw"}
    assert len({s.cfg_key for s in specs}) == 8


def test_shipped_sweeps_carry_the_documented_recipes():
    from pathlib import Path

    from runner.sweep.grid import expand

    root = Path(__file__).resolve().parents[2] / "sweeps"
    seed = load_sweep(root / "merlin_part1.yaml").train
    assert (seed.optimizer, seed.lr, seed.schedule, seed.milestones, seed.loss) == (
        "sgd", 0.1, "piecewise", (30, 60, 80), "bce",
    )  # fmt: skip
    assert (seed.pos_weight, seed.head_bias_init) == ("none", "timm")
    demo = load_sweep(root / "demo.yaml").train
    assert (demo.optimizer, demo.lr, demo.weight_decay, demo.schedule, demo.warmup_epochs) == (
        "adamw", 0.003, 0.01, "cosine", 1.0,
    )  # fmt: skip
    assert demo.head_bias_init == "prior"
    hard = expand(load_sweep(root / "recipes_hard.yaml"))
    assert len(hard) == 12 and hard[0].config.data.synthetic.n_species == 88
    recipes = {
        (s.config.train.optimizer, s.config.train.lr, s.config.train.head_bias_init) for s in hard
    }
    assert recipes == {
        (o, lr, b) for o, lr in (("sgd", 0.1), ("adamw", 0.003)) for b in ("zero", "prior")
    }
