"""The synthetic bird-soundscape dataset: determinism, class structure, the recipes' properties."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from runner.data import DataConfig, SyntheticConfig, load_dataset
from runner.data.synthetic import (
    SPECIES,
    dataset_dir,
    ensure_synthetic,
    render_clip,
    species_names,
    write_species_sheet,
)

SR = 22050
SMALL = SyntheticConfig(n_species=5, n_train=20, n_test=8, n_field=8, duration_s=2.0)


def small_cfg(tmp_path: Path, **kwargs) -> DataConfig:
    synth = dataclasses.replace(SMALL, output_dir=str(tmp_path / "data"), **kwargs)
    return DataConfig(synthetic=synth, cache_dir=str(tmp_path / "cache"), clip_s=1.0)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes_in_any_order(tmp_path):
    one = ensure_synthetic(small_cfg(tmp_path / "a"), workers=1).parent
    two = ensure_synthetic(
        small_cfg(tmp_path / "b"), workers=2
    ).parent  # clips rendered out of order
    a, b = tree_bytes(one), tree_bytes(two)
    assert len(a) == 20 + 8 + 8 + 3 and a == b
    other = ensure_synthetic(small_cfg(tmp_path / "c", seed=1), workers=1).parent
    assert tree_bytes(other)["train/train_00000.flac"] != a["train/train_00000.flac"]
    assert one.name == two.name != other.name  # the folder is named by the settings


def test_generated_once_then_reused(tmp_path):
    cfg = small_cfg(tmp_path)
    manifest = ensure_synthetic(cfg, workers=1)
    stamp = manifest.stat().st_mtime_ns
    assert ensure_synthetic(cfg) == manifest and manifest.stat().st_mtime_ns == stamp
    assert manifest.parent == dataset_dir(cfg)
    assert [p.name for p in manifest.parent.parent.iterdir() if p.is_dir()] == [
        manifest.parent.name
    ]


def test_loads_through_the_manifest_loader_with_class_structure(tmp_path):
    cfg = small_cfg(tmp_path)
    ds = load_dataset(cfg, 16000, ("test", "field"), seed=0)  # resampled on the way into the cache
    assert (
        ds.classes
        == species_names(5)
        == ("whistle_lo", "whistle_hi", "trill_slow", "trill_fast", "high_seee")
    )
    assert len(ds.train) == 20 and len(ds.eval["test"]) == 2 * 8 and len(ds.eval["field"]) == 2 * 8
    assert (ds.train.targets.sum(axis=0) > 0).all()  # every species has training examples
    per_clip = ds.train.targets.sum(axis=1)
    assert per_clip.max() <= 3 and per_clip.min() >= 0
    x, y = ds.train[0]
    assert x.shape == (16000,) and y.shape == (5,) and torch.isfinite(x).all()
    with open(ensure_synthetic(cfg).parent / "calls.csv") as fh:
        calls = list(csv.DictReader(fh))
    snr = {
        s: [float(c["snr_db"]) for c in calls if c["path"].startswith(s)]
        for s in ("train", "test", "field")
    }
    assert min(snr["train"]) >= 5 and max(snr["train"]) <= 25
    assert min(snr["field"]) >= -10 and max(snr["field"]) <= 5


def test_label_counts_at_default_size_are_balanced_enough():
    """Clip labels come from the generator's draw alone, so they can be checked without audio."""
    cfg = SyntheticConfig()
    counts = np.zeros(16)
    n_species = []
    for i in range(0, cfg.n_train, 4):  # every 4th clip, to keep it quick
        _, calls = render_clip(cfg, 3.0, "train", i)
        n_species.append(len(calls))
        for c in calls:
            counts[species_names().index(c["species"])] += 1
    assert counts.min() >= 0.3 * counts.mean()  # random draws: no species starved
    assert set(n_species) == {0, 1, 2, 3}


def _song(name: str, seed: int = 0) -> np.ndarray:
    sp = next(s for s in SPECIES if s.name == name)
    return sp.song(np.random.default_rng(seed), SR)


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
    return float(np.argmax(spectrum) * SR / (8 * x.size))


def _band_fraction(x: np.ndarray, lo: float, hi: float) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(power[(f >= lo) & (f <= hi)].sum() / power.sum())


def _rate_hz(envelope_of: np.ndarray) -> float:
    env = np.abs(envelope_of)
    frame = 64
    env = env[: env.size // frame * frame].reshape(-1, frame).mean(axis=1)  # ~2.9 ms frames
    env = env - env.mean()
    spectrum = np.abs(np.fft.rfft(env, 16 * env.size))
    f = np.fft.rfftfreq(16 * env.size, frame / SR)
    keep = f > 5
    return float(f[keep][np.argmax(spectrum[keep])])


def test_the_semitone_pair():
    for seed in range(5):
        lo, hi = _peak_hz(_song("whistle_lo", seed)), _peak_hz(_song("whistle_hi", seed))
        assert 2960 < lo < 3040 and 3140 < hi < 3220
    lo_max = max(_peak_hz(_song("whistle_lo", s)) for s in range(20))
    hi_min = min(_peak_hz(_song("whistle_hi", s)) for s in range(20))
    assert hi_min / lo_max > 2 ** (1 / 24)  # jitter never closes more than half the semitone


def test_the_trill_pair_differs_in_rate_only():
    for seed in range(3):
        slow, fast = _rate_hz(_song("trill_slow", seed)), _rate_hz(_song("trill_fast", seed))
        assert 12.5 < slow < 15.5 and 31 < fast < 39
        assert abs(_peak_hz(_song("trill_slow", seed)) - _peak_hz(_song("trill_fast", seed))) < 400


def test_band_edges_and_every_species_inside_half_to_ten_khz():
    assert _band_fraction(_song("high_seee"), 8000, 10000) > 0.99
    assert _band_fraction(_song("low_hoot"), 0, 1000) > 0.99
    assert 30 < _rate_hz(_song("buzz")) < 80
    for sp in SPECIES:
        assert _band_fraction(sp.song(np.random.default_rng(0), SR), 450, 10000) > 0.97, sp.name
    assert len({s.name for s in SPECIES}) == 16


def test_species_sheet_png(tmp_path):
    import matplotlib.image

    out = tmp_path / "sheet.png"
    write_species_sheet(out)
    image = matplotlib.image.imread(out)
    assert image.shape[0] > 800 and image.shape[1] > 1000
    assert image[..., :3].std() > 0.1  # not blank


@pytest.mark.slow
def test_a_small_cnn_beats_the_label_prior_in_a_few_epochs(tmp_path):
    """The default dataset is learnable: mel-dB + a small CNN, 4 epochs, CPU."""
    from sklearn.metrics import average_precision_score

    from frontends import functional as F

    torch.manual_seed(0)
    cfg = DataConfig(synthetic=dataclasses.replace(SyntheticConfig(), output_dir=str(tmp_path / "data")),
                     cache_dir=str(tmp_path / "cache"))  # fmt: skip
    ds = load_dataset(cfg, SR, ("test", "field"), seed=0)
    window = F.make_window("hann", 512, torch.float32)
    filterbank = F.mel_filterbank(SR, 512, 64, dtype=torch.float32)  # (64, 257)

    def mel(x):
        return filterbank @ F.spectrogram(x, window, n_fft=512, hop_length=128)  # (B, 64, T)

    def features(x):
        s = torch.log(mel(x) + 1e-6).unsqueeze(1)  # (B, 1, 64, T)
        return (s - s.mean(dim=(2, 3), keepdim=True)) / (s.std(dim=(2, 3), keepdim=True) + 1e-5)

    def block(i, o):
        return torch.nn.Sequential(
            torch.nn.Conv2d(i, o, 3, padding=1),
            torch.nn.BatchNorm2d(o),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )

    model = torch.nn.Sequential(
        block(1, 16), block(16, 32), block(32, 64), block(64, 64),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, len(ds.classes)),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    from runner.data import eval_loader, train_loader

    for _ in range(4):
        model.train()
        for x, y in train_loader(ds.train, 32, seed=0, num_workers=0):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(features(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    for name in ("test", "field"):
        with torch.no_grad():
            scores = torch.cat(
                [model(features(x)) for x, _ in eval_loader(ds.eval[name], 64, num_workers=0)]
            ).numpy()
        targets = ds.eval[name].targets
        keep = targets.sum(axis=0) > 0
        model_map = average_precision_score(targets[:, keep], scores[:, keep], average="macro")
        prior_map = targets[:, keep].mean(axis=0).mean()  # AP of a constant score = prevalence
        print(f"{name}: MAP {model_map:.3f} vs label prior {prior_map:.3f}")
        assert model_map > prior_map + 0.2
