"""Augmentations: each does what it says, each can be turned off, and a seed fixes them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from runner.sweep.train_config import AugmentConfig
from runner.train.augment import (
    Augmenter,
    Masks,
    add_noise,
    apply_gain,
    apply_masks,
    colored_noise,
    mask_stripes,
    mix,
    time_shift,
)


def batch(b=6, n=4000, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    waveform = torch.randn(b, n, generator=g) * 0.1
    target = (torch.rand(b, c, generator=g) < 0.4).float()
    return waveform, target


def test_time_shift_is_a_circular_roll_per_clip():
    waveform, _ = batch()
    shifts = torch.tensor([0, 1, -3, 100, 3999, -4000])
    out = time_shift(waveform, shifts)
    for i, s in enumerate(shifts.tolist()):
        assert torch.equal(out[i], torch.roll(waveform[i], s))


def test_gain_and_noise_levels():
    waveform, _ = batch()
    out = apply_gain(waveform, torch.full((6,), 6.0))
    assert torch.allclose(out, waveform * 10 ** (6 / 20))
    g = torch.Generator().manual_seed(1)
    for color in (0.0, 1.0, 2.0):
        noise = colored_noise((6, 4000), color, g, torch.device("cpu"))
        assert torch.allclose(noise.pow(2).mean(-1), torch.ones(6), atol=1e-4)
    snr = torch.tensor([0.0, 10.0, 20.0, 0.0, 5.0, 30.0])
    apply = torch.tensor([True, True, True, False, True, True])
    noisy = add_noise(waveform, noise, snr, apply)
    added = noisy - waveform
    measured = 10 * torch.log10(waveform.pow(2).mean(-1) / added.pow(2).mean(-1).clamp_min(1e-30))
    assert torch.allclose(measured[apply], snr[apply], atol=0.01)
    assert torch.equal(noisy[3], waveform[3])


def test_pink_noise_has_falling_spectrum():
    g = torch.Generator().manual_seed(0)
    spectrum = (
        torch.fft.rfft(colored_noise((16, 8192), 1.0, g, torch.device("cpu"))).abs().pow(2).mean(0)
    )
    low, high = spectrum[10:100].mean(), spectrum[1000:4000].mean()
    assert low > 10 * high  # 1/f: two decades of frequency -> about 25x in power


def test_mixup_union_and_blend_targets():
    waveform, target = batch()
    partner = torch.tensor([1, 0, 3, 2, 5, 4])
    lam = torch.tensor([0.7, 1.0, 0.5, 0.5, 0.2, 1.0])
    mixed, union = mix(waveform, target, partner, lam, "union")
    assert torch.allclose(mixed[0], 0.7 * waveform[0] + 0.3 * waveform[1])
    assert torch.equal(union[0], torch.maximum(target[0], target[1]))
    assert torch.equal(union[1], target[1]) and torch.equal(
        mixed[1], waveform[1]
    )  # lam 1: untouched
    _, blend = mix(waveform, target, partner, lam, "blend")
    assert torch.allclose(blend[0], 0.7 * target[0] + 0.3 * target[1])


def test_masks_fill_stripes_with_the_image_mean():
    image = torch.rand(2, 3, 8, 10)
    out = mask_stripes(image, 3, torch.tensor([[2], [0]]), torch.tensor([[3], [0]]))
    mean = image[0].mean()
    assert torch.allclose(out[0, :, :, 2:5], mean.expand(3, 8, 3))
    assert torch.equal(out[0, :, :, :2], image[0, :, :, :2]) and torch.equal(out[1], image[1])
    out = mask_stripes(image, 2, torch.tensor([[6], [1]]), torch.tensor([[2], [1]]))
    assert torch.allclose(out[1, :, 1], image[1].mean().expand(3, 10))


def test_apply_masks_is_frequency_stripes_then_time_stripes():
    image = torch.rand(2, 1, 8, 10)
    freq = torch.tensor([[[1, 2]], [[0, 0]]])  # (B, 1, 2): start row, rows
    time = torch.tensor([[[3, 4], [0, 1]], [[5, 5], [0, 0]]])  # (B, 2, 2)
    expected = mask_stripes(image, 2, freq[..., 0], freq[..., 1])
    expected = mask_stripes(expected, 3, time[..., 0], time[..., 1])
    assert torch.equal(apply_masks(image, Masks(freq, time)), expected)
    none = torch.zeros(2, 0, 2, dtype=torch.long)
    assert torch.equal(apply_masks(image, Masks(none, none)), image)


def test_all_off_is_the_identity_and_a_seed_repeats_the_draws():
    waveform, target = batch()
    image = torch.rand(6, 1, 16, 32)
    off = Augmenter(AugmentConfig.off(), np.random.default_rng(0))
    w, t = off.waveform(waveform, target)
    assert torch.equal(w, waveform) and torch.equal(t, target)
    masks = off.masks(6, 16, 32)
    assert masks.freq.shape == masks.time.shape == (6, 0, 2)
    assert torch.equal(apply_masks(image, masks), image)

    everything = AugmentConfig(background_prob=1.0, mixup_prob=1.0)
    runs = []
    for _ in range(2):
        aug = Augmenter(everything, np.random.default_rng([42, 3]))
        w, t = aug.waveform(waveform, target)
        runs.append((w, t, apply_masks(image, aug.masks(6, 16, 32))))
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    assert not torch.equal(runs[0][0], waveform) and not torch.equal(runs[0][2], image)
    assert (runs[0][1] >= target).all()  # union: mixing only adds labels
    other = Augmenter(everything, np.random.default_rng([42, 4])).waveform(waveform, target)[0]
    assert not torch.equal(other, runs[0][0])  # another batch's seed: other draws


def test_mask_draws_stay_inside_the_image_and_under_the_width_limit():
    cfg = AugmentConfig(freq_masks=2, freq_mask_frac=0.25, time_masks=3, time_mask_frac=0.1)
    masks = Augmenter(cfg, np.random.default_rng(0)).masks(500, 16, 40)
    assert masks.freq.shape == (500, 2, 2) and masks.time.shape == (500, 3, 2)
    for stripes, size, limit in ((masks.freq, 16, 4), (masks.time, 40, 4)):
        starts, widths = stripes[..., 0], stripes[..., 1]
        assert (widths >= 0).all() and (widths <= limit).all() and widths.max() == limit
        assert (starts >= 0).all() and (starts + widths <= size).all()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("time_shift", 1.5, "time_shift: 1.5 must be in [0, 1]"),
        ("background_snr_db", (20.0, 0.0), "background_snr_db: [20.0, 0.0] is not a range"),
        ("freq_masks", -1, "freq_masks: -1 must be >= 0"),
        ("mixup_alpha", 0.0, "mixup_alpha: 0.0 must be > 0"),
    ],
)
def test_bad_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        dataclasses.replace(AugmentConfig(), **{field: value})
