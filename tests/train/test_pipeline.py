"""The training input pipeline (runner/train/pipeline.py): where the frontend runs changes nothing but
the speed, and a batch is the same with any number of loader workers (real worker processes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers.audio import SR, manifest_cfg, small_manifest

from frontends import FrontendConfig, build_frontend
from models.classifier import create_classifier
from models.config import ModelConfig
from runner.data import load_dataset, train_loader
from runner.sweep.train_config import AugmentConfig, TrainConfig
from runner.train.augment import apply_masks
from runner.train.loop import Precision, make_optimizer, train_one_epoch
from runner.train.pipeline import (
    BatchPrep,
    TrainBatch,
    default_workers,
    frontend_in_loader,
    to_images,
)

FRONTEND = FrontendConfig(
    sample_rate=SR, win_length=256, hop_length=64, n_mels=32, image_size=(32, 48)
)
# Every augmentation on, so every random draw has to line up between the two placements.
AUGMENT = AugmentConfig(gain_db=6.0, background_prob=0.5, mixup_prob=0.5)


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    cfg = manifest_cfg(tmp, small_manifest(tmp, n_per_class=4), clip_s=0.5)
    return load_dataset(cfg, SR, ("test",), seed=0).train  # 12 segments of 1 s, crops of 0.5 s


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the loader's workers: the same kernels, so the same bits
    yield
    torch.set_num_threads(threads)


def test_the_frontend_runs_in_the_loader_only_when_it_learns_nothing_and_training_is_on_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    db = build_frontend(FRONTEND)
    pcen = build_frontend(FrontendConfig(sample_rate=SR, compression="pcen", n_mels=32))
    frozen_pcen = build_frontend(
        FrontendConfig(sample_rate=SR, compression="pcen", n_mels=32, pcen={"learnable": False})
    )
    assert frontend_in_loader(db, cpu) and frontend_in_loader(frozen_pcen, cpu)
    assert not frontend_in_loader(pcen, cpu)  # must be in the autograd graph
    assert not frontend_in_loader(db, cuda)  # the GPU is faster at it than the loader's cores
    prep = BatchPrep.for_training(AUGMENT, pcen, cpu, n_samples=4000)
    assert not prep.runs_frontend and prep.image_hw == pcen.output_shape(4000)[1:]


def test_both_placements_give_the_same_images_with_any_number_of_workers(train_set, one_thread):
    frontend = build_frontend(FRONTEND)
    n = train_set.clip_len
    in_loader = BatchPrep(AUGMENT, frontend.output_shape(n)[1:], frontend)
    in_step = BatchPrep(AUGMENT, frontend.output_shape(n)[1:], None)

    def images(prep, workers):
        loader = train_loader(train_set, 4, seed=7, num_workers=workers, prepare=prep)
        out = []
        for epoch_seed in (7, 8):  # two epochs through the same (persistent) workers
            loader.sampler.seed = epoch_seed
            for batch in loader:
                assert isinstance(batch, TrainBatch)
                with torch.no_grad():
                    out.append(to_images(batch, frontend, torch.device("cpu")))
        return out

    reference = images(in_step, 0)
    assert len(reference) == 6 and reference[0][0].shape == (4, 1, 32, 48)
    assert not torch.equal(reference[0][0], reference[3][0])  # the epochs differ
    for prep, workers in ((in_loader, 0), (in_loader, 1), (in_step, 2)):
        got = images(prep, workers)
        for (image, target), (ref_image, ref_target) in zip(got, reference, strict=True):
            assert torch.equal(image, ref_image) and torch.equal(target, ref_target)


def test_training_is_the_same_wherever_the_frontend_runs(train_set, one_thread):
    cfg = TrainConfig(
        batch_size=4,
        optimizer="sgd",
        lr=0.05,
        schedule="piecewise",
        milestones=(100,),
        augment=AUGMENT,
    )
    device = torch.device("cpu")
    precision = Precision.for_device(cfg, device)
    torch.manual_seed(0)
    model_cfg = ModelConfig(name="mobilenetv3_small_050", pretrained="none")
    start = create_classifier(FRONTEND, model_cfg, train_set.n_classes).state_dict()

    def train(frontend_in_the_loader: bool, workers: int):
        torch.manual_seed(1)
        model = create_classifier(FRONTEND, model_cfg, train_set.n_classes)
        model.load_state_dict(start)
        image_hw = model.frontend.output_shape(train_set.clip_len)[1:]
        prep = BatchPrep(AUGMENT, image_hw, model.frontend if frontend_in_the_loader else None)
        loader = train_loader(train_set, 4, seed=3, num_workers=workers, prepare=prep)
        optimizer = make_optimizer(model, cfg)
        losses = [
            train_one_epoch(model, loader, optimizer, cfg, device, epoch, precision).loss
            for epoch in range(2)
        ]
        return losses, model.state_dict()

    ref_losses, ref_state = train(False, 0)
    losses, state = train(True, 1)
    assert losses == ref_losses and all(np.isfinite(ref_losses))
    assert all(torch.equal(state[k], ref_state[k]) for k in ref_state)


def test_the_loader_applies_the_masks_it_drew(train_set):
    frontend = build_frontend(FRONTEND)
    masked = dataclasses.replace(AugmentConfig.off(), freq_masks=2, time_masks=2)
    image_hw = frontend.output_shape(train_set.clip_len)[1:]
    waveform = torch.stack([torch.from_numpy(train_set.crop(i, np.random.default_rng(i)))
                            for i in range(4)])  # fmt: skip
    target = torch.zeros(4, train_set.n_classes)
    in_step = BatchPrep(masked, image_hw)(waveform, target, np.random.default_rng(5))
    in_loader = BatchPrep(masked, image_hw, frontend)(waveform, target, np.random.default_rng(5))
    assert in_loader.masks is None and in_step.masks.freq.shape == (4, 2, 2)
    expected = apply_masks(frontend(waveform), in_step.masks)
    assert torch.allclose(in_loader.inputs, expected) and not torch.equal(
        expected, frontend(waveform)
    )


def test_non_finite_audio_is_refused_in_the_loader(train_set):
    frontend = build_frontend(FRONTEND)
    prep = BatchPrep(AUGMENT, frontend.output_shape(train_set.clip_len)[1:], frontend)
    waveform = torch.zeros(3, train_set.clip_len)
    waveform[1, 10] = float("nan")
    with pytest.raises(ValueError, match=r"clip indices \[1\]"):
        prep(waveform, torch.zeros(3, 2), np.random.default_rng(0))


def test_default_workers_fit_the_trials_thread_budget():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert [default_workers(cpu, t) for t in (1, 2, 8)] == [0, 1, 1]
    assert [default_workers(cuda, t) for t in (1, 2, 3, 16)] == [0, 1, 2, 4]
