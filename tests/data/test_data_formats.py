"""Manifest CSV and Raven tables, splits and K-fold, clip sampling: with real files on disk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from helpers.audio import RAVEN_HEADER, SR, manifest_cfg, small_manifest, write_csv, write_tone

from runner.data import (
    DataConfig,
    KFoldConfig,
    RavenConfig,
    eval_loader,
    load_dataset,
    train_loader,
)
from runner.data.raven import window_starts
from runner.data.sampling import normalize_clip
from runner.data.splits import stratified_folds

# ---- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(clip_s=0), "clip_s"),
        (dict(clip_s=float("nan")), "clip_s"),
        (dict(kind="manifest"), "manifest"),
        (dict(kind="raven"), "raven"),
        (dict(classes=("a", "a")), "classes"),
        (dict(classes=()), "classes"),
        (dict(eval_hop_s=-1.0), "eval_hop_s"),
        (dict(normalize="loud"), "normalize"),
    ],
)
def test_config_errors_start_with_field_name(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        DataConfig(**kwargs)


def test_nested_config_errors_start_with_field_name():
    with pytest.raises(ValueError, match=r"^fold: 5 must be in 0\.\.4"):
        KFoldConfig(k=5, fold=5)
    with pytest.raises(ValueError, match=r"^min_overlap_s: "):
        RavenConfig(min_overlap_s=-0.1)
    from runner.data import SyntheticConfig

    with pytest.raises(ValueError, match=r"^n_species: 17 "):
        SyntheticConfig(n_species=17)


def test_config_is_frozen_with_defaults():
    cfg = DataConfig()
    assert cfg.kind == "synthetic" and cfg.clip_s == 3.0 and cfg.on_bad_audio == "error"
    assert cfg.cache_dir == ".specsweep/cache" and cfg.synthetic.n_species == 16
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.clip_s = 2.0  # type: ignore[misc]
    assert dataclasses.replace(cfg, clip_s=2.0).clip_s == 2.0


# ---- manifest ----------------------------------------------------------------------------------


def test_manifest_wav_and_flac_named_splits(tmp_path):
    manifest = small_manifest(tmp_path)
    ds = load_dataset(manifest_cfg(tmp_path, manifest, clip_s=0.5), SR, ("test",), seed=0)
    assert ds.classes == ("a", "b")
    assert len(ds.train) == 9 and set(ds.eval) == {"test"}
    assert ds.skipped == {}
    x, y = ds.train[0]
    assert x.dtype == torch.float32 and x.shape == (4000,)
    assert y.dtype == torch.float32 and y.shape == (2,)
    # multi-hot: the a;b rows have both, every other row exactly one
    assert sorted(ds.train.targets.sum(axis=1).tolist()) == [1] * 6 + [2] * 3
    # 1 s files, 0.5 s clips: two fixed windows per file, grouped by file id
    test = ds.eval["test"]
    assert len(test) == 18 and len(test.file_names) == 9 and test.has_long_files
    assert np.array_equal(test.file_targets[test.file_ids], test.targets)


def test_manifest_decodes_the_audio_that_was_written(tmp_path):
    x = write_tone(tmp_path / "a.flac", 1.0, freq_hz=500)
    write_tone(tmp_path / "b.wav", 1.0, freq_hz=700)
    m = write_csv(
        tmp_path / "m.csv",
        ["path", "labels", "split"],
        [["a.flac", "a", "train"], ["b.wav", "b", "train"]],
    )
    ds = load_dataset(manifest_cfg(tmp_path, m, clip_s=1.0), SR, ("train",), seed=0)
    window, target = ds.eval["train"][0]
    # PCM_16 FLAC: equal to the float samples within one quantisation step
    assert np.abs(window.numpy() - x).max() < 1 / 2**15 + 1e-6
    assert target.tolist() == [1.0, 0.0]


def test_manifest_explicit_classes_order_and_negative_rows(tmp_path):
    for name in ("p", "q", "r", "s"):
        write_tone(tmp_path / f"{name}.wav", 0.5)
    m = write_csv(
        tmp_path / "m.csv", ["path", "labels", "split"],
        [["p.wav", "zeta", "train"], ["q.wav", "", "train"], ["s.wav", "alpha", "train"],
         ["r.wav", "alpha; zeta", "test"]],
    )  # fmt: skip
    ds = load_dataset(
        manifest_cfg(tmp_path, m, clip_s=0.5, classes=("zeta", "alpha")), SR, ("test",), seed=0
    )
    assert ds.classes == ("zeta", "alpha")  # the given order, not sorted
    assert ds.eval["test"].targets.tolist() == [[1.0, 1.0]]
    assert ds.train.targets.tolist() == [[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]  # empty cell: negative


def test_manifest_segments_crop_inside_and_pad_short_ones(tmp_path):
    t = np.arange(4 * SR) / SR
    ramp = (t / 4).astype(np.float32)  # sample value encodes its time: x = t / 4
    import soundfile as sf

    sf.write(tmp_path / "long.wav", ramp, SR, subtype="FLOAT")
    m = write_csv(
        tmp_path / "m.csv", ["path", "labels", "start_s", "end_s", "split"],
        [["long.wav", "a", "1.0", "3.0", "train"], ["long.wav", "b", "3.5", "3.75", "train"],
         ["long.wav", "a", "", "", "test"]],
    )  # fmt: skip
    ds = load_dataset(manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("test",), seed=0)
    starts = set()
    for _ in range(30):
        x, _ = ds.train[0]
        times = x.numpy() * 4
        assert times[0] >= 1.0 - 1e-6 and times[-1] <= 3.0 + 1e-6  # inside the segment
        assert np.allclose(np.diff(times), 1 / SR, atol=1e-6)  # contiguous audio
        starts.add(round(float(times[0]), 3))
    assert len(starts) > 10  # random crops
    x, _ = ds.train[1]  # 0.25 s segment in a 0.5 s clip: zero-padded around it
    x = x.numpy()
    nz = np.flatnonzero(x)
    assert nz.size == 0.25 * SR and np.all(x[: nz[0]] == 0) and np.all(x[nz[-1] + 1 :] == 0)
    assert np.allclose(x[nz] * 4, np.arange(3.5 * SR, 3.75 * SR) / SR, atol=1e-6)
    # evaluation: whole 4 s file, 0.5 s windows, deterministic
    test = ds.eval["test"]
    assert len(test) == 8 and test.file_ids.tolist() == [0] * 8
    assert torch.equal(test[3][0], test[3][0])
    assert np.isclose(float(test[3][0][0]) * 4, 1.5, atol=1e-6)


def test_fold_column_selects_test_fold(tmp_path):
    rows = []
    for i in range(6):
        write_tone(tmp_path / f"{i}.wav", 0.5)
        rows.append([f"{i}.wav", "a" if i % 2 else "b", str(i % 3)])
    m = write_csv(tmp_path / "m.csv", ["path", "labels", "fold"], rows)
    cfg = manifest_cfg(tmp_path, m, clip_s=0.5, kfold=KFoldConfig(k=3, fold=1))
    ds = load_dataset(cfg, SR, ("test",), seed=0)
    assert len(ds.train) == 4 and len(ds.eval["test"]) == 2


def test_kfold_from_one_pool_is_stratified_and_keeps_files_whole(tmp_path):
    rows = []
    rng = np.random.default_rng(0)
    for i in range(40):
        write_tone(tmp_path / f"f{i}.wav", 1.0)
        labels = ";".join(c for c in "abcd" if rng.random() < 0.35)
        rows.append([f"f{i}.wav", labels or "a", "0.0", "0.5"])
        rows.append([f"f{i}.wav", labels or "a", "0.5", "1.0"])
    m = write_csv(tmp_path / "m.csv", ["path", "labels", "start_s", "end_s"], rows)
    folds = []
    for fold in range(4):
        cfg = manifest_cfg(tmp_path, m, clip_s=0.5, kfold=KFoldConfig(k=4, fold=fold, seed=3))
        ds = load_dataset(cfg, SR, ("test",), seed=0)
        test = ds.eval["test"]
        train_files = {ds.train.cache.paths[f] for f in ds.train.files}
        test_files = {test.cache.paths[f] for f in test.files}
        assert not train_files & test_files  # no recording in both
        folds.append(test_files)
    assert set().union(*folds) == {str((tmp_path / f"f{i}.wav").resolve()) for i in range(40)}
    assert sum(len(f) for f in folds) == 40  # a partition


def test_stratified_folds_balance_better_than_chance():
    rng = np.random.default_rng(1)
    counts = (rng.random((300, 12)) < np.linspace(0.03, 0.4, 12)).astype(int)  # rare to common
    sizes = np.ones(300, dtype=int)
    folds = stratified_folds(counts, sizes, k=5, seed=0)
    assert np.array_equal(folds, stratified_folds(counts, sizes, k=5, seed=0))  # seeded
    assert not np.array_equal(folds, stratified_folds(counts, sizes, k=5, seed=1))
    per_fold = np.stack([counts[folds == j].sum(axis=0) for j in range(5)])  # (k, classes)
    assert (per_fold.max(axis=0) - per_fold.min(axis=0)).max() <= 2
    assert np.bincount(folds, minlength=5).min() >= 300 / 5 - 6
    random_folds = rng.integers(0, 5, 300)
    per_random = np.stack([counts[random_folds == j].sum(axis=0) for j in range(5)])
    spread = lambda p: (p.max(axis=0) - p.min(axis=0)).mean()  # noqa: E731
    assert spread(per_fold) < spread(per_random) / 2


def test_stratified_folds_with_groups_of_different_sizes():
    counts = np.array(
        [[5, 0], [0, 5], [3, 3], [1, 0], [0, 1], [2, 2], [4, 1], [1, 4], [0, 0], [0, 0]]
    )
    sizes = np.array([6, 6, 4, 2, 2, 3, 5, 5, 3, 3])
    folds = stratified_folds(counts, sizes, k=2, seed=0)
    per_fold = np.stack([counts[folds == j].sum(axis=0) for j in range(2)])
    assert np.abs(per_fold[0] - per_fold[1]).max() <= 3
    assert set(folds.tolist()) == {0, 1}


# ---- sampling and loaders ----------------------------------------------------------------------


def test_normalize_modes():
    x = np.array([0.0, 0.5, -0.25], dtype=np.float32)
    assert np.allclose(normalize_clip(x.copy(), "peak"), [0, 1, -0.5])
    y = normalize_clip(x.copy(), "rms")
    assert np.isclose(np.sqrt(np.mean(y**2)), 0.1)
    assert np.array_equal(normalize_clip(x.copy(), "none"), x)


def test_normalize_applies_to_dataset_clips(tmp_path):
    manifest = small_manifest(tmp_path, n_per_class=1)
    ds = load_dataset(
        manifest_cfg(tmp_path, manifest, clip_s=0.5, normalize="peak"), SR, ("test",), seed=0
    )
    assert np.isclose(float(ds.eval["test"][0][0].abs().max()), 1.0, atol=1e-4)


def test_loaders_are_seeded_and_batch_shapes(tmp_path):
    manifest = small_manifest(tmp_path)
    cfg = manifest_cfg(tmp_path, manifest, clip_s=0.5)

    def batches(seed, workers):
        ds = load_dataset(cfg, SR, ("test",), seed=seed)
        return [
            (x.clone(), y.clone())
            for x, y in train_loader(ds.train, 4, seed=seed, num_workers=workers)
        ]

    a, b, c = batches(0, 0), batches(0, 0), batches(1, 0)
    assert (
        len(a) == 2 and a[0][0].shape == (4, 4000) and a[0][1].shape == (4, 2)
    )  # 9 rows, last dropped
    assert all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, b))
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, c))
    w1, w2 = batches(0, 1), batches(0, 2)  # real worker processes: the same batches as without
    for (x0, y0), (x1, y1), (x2, y2) in zip(a, w1, w2, strict=True):
        assert torch.equal(x0, x1) and torch.equal(x0, x2)
        assert torch.equal(y0, y1) and torch.equal(y0, y2)
    ds = load_dataset(cfg, SR, ("test",), seed=0)
    ev = torch.cat([x for x, _ in eval_loader(ds.eval["test"], 5, num_workers=0)])
    assert torch.equal(
        ev, torch.stack([ds.eval["test"][i][0] for i in range(len(ds.eval["test"]))])
    )


# ---- Raven -------------------------------------------------------------------------------------


def test_window_starts_cover_the_recording():
    assert window_starts(10.0, 3.0, 3.0) == [0.0, 3.0, 6.0, 7.0]
    assert window_starts(9.0, 3.0, 3.0) == [0.0, 3.0, 6.0]
    assert window_starts(2.0, 3.0, 1.0) == [0.0]
    assert window_starts(5.0, 3.0, 1.0) == [0.0, 1.0, 2.0]


def test_raven_one_table_per_recording(tmp_path):
    write_tone(tmp_path / "rec1.wav", 9.0)
    write_tone(tmp_path / "rec2.flac", 6.0)
    rows1 = [
        [1, "Spectrogram 1", 1, "0.5", "1.0", "1000", "3000", "amro"],  # short box inside window 0
        [1, "Waveform 1", 1, "0.5", "1.0", "1000", "3000", "amro"],  # same selection, other view
        [2, "Spectrogram 1", 1, "2.4", "4.0", "500", "2000", "noca"],  # 0.6 s in w0, 1 s in w1
        [3, "Spectrogram 1", 1, "5.8", "6.2", "500", "2000", "noca"],  # 0.2 s in w1, 0.2 s in w2
    ]
    write_csv(tmp_path / "rec1.Table.1.selections.txt", RAVEN_HEADER, rows1, delimiter="\t")
    write_tone(tmp_path / "rec3.wav", 9.0)  # a copy, so that both folds have both species
    write_csv(tmp_path / "rec3.Table.1.selections.txt", RAVEN_HEADER, rows1, delimiter="\t")
    rows2 = [[1, "Spectrogram 1", 1, "3.5", "4.5", "100", "800", "amro"]]
    write_csv(tmp_path / "rec2.Table.1.selections.txt", RAVEN_HEADER, rows2, delimiter="\t")
    cfg = DataConfig(
        kind="raven", raven=RavenConfig(tables=str(tmp_path), min_overlap_s=0.5),
        cache_dir=str(tmp_path / "cache"), kfold=KFoldConfig(k=2, fold=0),
    )  # fmt: skip
    ds = load_dataset(cfg, SR, ("test",), seed=0)
    assert ds.classes == ("amro", "noca")
    by_file = {}
    for d in (ds.train, ds.eval["test"]):
        for f, a, y in zip(d.files, d.starts, d.targets):
            by_file.setdefault(d.cache.paths[f].rsplit("/", 1)[-1], []).append((a / SR, y.tolist()))
    # rec1: 3 windows; the 0.2 s overlaps with box 3 are below min_overlap_s (box is 0.4 s long)
    assert sorted(by_file["rec1.wav"]) == [(0.0, [1.0, 1.0]), (3.0, [0.0, 1.0]), (6.0, [0.0, 0.0])]
    assert sorted(by_file["rec3.wav"]) == sorted(by_file["rec1.wav"])
    assert sorted(by_file["rec2.flac"]) == [(0.0, [0.0, 0.0]), (3.0, [1.0, 0.0])]


def test_raven_begin_file_column_and_hop(tmp_path):
    write_tone(tmp_path / "audio" / "a.wav", 4.0)
    write_tone(tmp_path / "audio" / "b.wav", 4.0)
    header = [*RAVEN_HEADER, "Begin File", "File Offset (s)", "Split"]
    rows = [
        [1, "Spectrogram 1", 1, "1.0", "1.5", "100", "900", "x", "a.wav", "1.0", "train"],
        [2, "Spectrogram 1", 1, "6.0", "7.0", "100", "900", "y", "b.wav", "2.0", "train"],
        [3, "Spectrogram 1", 1, "7.5", "7.9", "100", "900", "x", "b.wav", "3.5", "train"],
    ]
    write_csv(tmp_path / "tables" / "all.txt", header, rows, delimiter="\t")
    cfg = DataConfig(
        kind="raven", cache_dir=str(tmp_path / "cache"), clip_s=2.0,
        raven=RavenConfig(tables=str(tmp_path / "tables"), audio_dir=str(tmp_path / "audio"),
                          hop_s=1.0, min_overlap_s=0.3, split_column="Split"),
    )  # fmt: skip
    ds = load_dataset(cfg, SR, ("train",), seed=0)
    ev = ds.eval["train"]
    got = sorted(
        (ev.cache.paths[f].rsplit("/", 1)[-1], a / SR, tuple(y))
        for f, a, y in zip(ev.files, ev.starts, ev.targets.tolist())
    )
    # b.wav: y at 2.0-3.0 s (from File Offset, not Begin Time), x at 3.5-3.9
    assert got == [
        ("a.wav", 0.0, (1.0, 0.0)), ("a.wav", 1.0, (1.0, 0.0)), ("a.wav", 2.0, (0.0, 0.0)),
        ("b.wav", 0.0, (0.0, 0.0)), ("b.wav", 1.0, (0.0, 1.0)), ("b.wav", 2.0, (1.0, 1.0)),
    ]  # fmt: skip
    assert len(ev.file_names) == 2 and ev.has_long_files


def test_raven_custom_species_column(tmp_path):
    write_tone(tmp_path / "r.wav", 3.0)
    header = [h if h != "Species" else "Code" for h in RAVEN_HEADER]
    write_csv(
        tmp_path / "r.Table.1.selections.txt",
        header,
        [[1, "Spectrogram 1", 1, "0", "1", "1", "2", "wiwr"]],
        delimiter="\t",
    )
    write_tone(tmp_path / "s.wav", 3.0)
    write_csv(
        tmp_path / "s.Table.1.selections.txt",
        header,
        [[1, "Spectrogram 1", 1, "0", "1", "1", "2", "wiwr"]],
        delimiter="\t",
    )
    cfg = DataConfig(
        kind="raven", cache_dir=str(tmp_path / "cache"),
        raven=RavenConfig(tables=str(tmp_path / "*.txt"), species_column="Code"), kfold=KFoldConfig(k=2),
    )  # fmt: skip
    ds = load_dataset(cfg, SR, ("test",), seed=0)
    assert ds.classes == ("wiwr",)


@pytest.mark.parametrize(
    ("ext", "fmt", "subtype"), [("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")]
)
def test_lossy_formats_decode_through_the_cache(tmp_path, ext, fmt, subtype):
    import soundfile as sf

    x = write_tone(tmp_path / "ref.wav", 1.0, sr=16000, freq_hz=1000)
    sf.write(tmp_path / f"a.{ext}", x, 16000, format=fmt, subtype=subtype)
    write_tone(tmp_path / "b.wav", 1.0)
    m = write_csv(
        tmp_path / "m.csv",
        ["path", "labels", "split"],
        [[f"a.{ext}", "a", "train"], ["b.wav", "b", "train"]],
    )
    ds = load_dataset(
        manifest_cfg(tmp_path, m, clip_s=0.5), SR, ("train",), seed=0
    )  # 16 kHz -> 8 kHz
    window = ds.eval["train"][1][0].numpy()  # second window of a.<ext>: past any codec delay
    spectrum = np.abs(np.fft.rfft(window * np.hanning(window.size)))
    assert (
        abs(np.argmax(spectrum) * SR / window.size - 1000) <= 2 and 0.3 < np.abs(window).max() < 0.7
    )
