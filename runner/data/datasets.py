"""`load_dataset`: a `data` config -> checked rows -> audio cache -> splits -> clip datasets.

    ds = load_dataset(cfg.data, sample_rate=22050, eval_sets=("test", "field"), seed=0)
    ds.classes, len(ds.train), ds.eval["field"], ds.skipped   # skipped: {"unreadable": 2, ...}

Every problem with the user's data raises `runner.errors.UserError` naming the file and row; bad
audio (and unknown labels, duplicate rows) is instead left out and counted when the sweep sets
`on_bad_audio: skip`. The skip counts are logged as a warning here and returned for MLflow.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from runner.data import raven as raven_mod
from runner.data.cache import OK, BadAudio, open_cache
from runner.data.config import DataConfig
from runner.data.manifest import Segment, Skips, read_manifest
from runner.data.sampling import EvalDataset, TrainDataset
from runner.data.splits import stratified_folds
from runner.errors import UserError

log = logging.getLogger(__name__)

# A segment may end this far past the end of its file (rounding in annotation tools) and is
# then clamped; further is an error.
END_TOLERANCE_S = 0.05


@dataclass
class Datasets:
    """What a trial trains and evaluates on."""

    classes: tuple[str, ...]
    train: TrainDataset
    eval: dict[str, EvalDataset]
    skipped: dict[str, int]  # reason -> count of items left out under on_bad_audio: skip
    sample_rate: int
    source: str  # the manifest or tables the data came from

    def summary(self) -> str:
        sets = ", ".join(f"{name} {len(d)} windows" for name, d in self.eval.items())
        skipped = sum(self.skipped.values())
        return (
            f"{self.source}: {len(self.classes)} classes, train {len(self.train)} segments, {sets}"
            + (f", {skipped} items skipped" if skipped else "")
        )


def load_dataset(
    cfg: DataConfig, sample_rate: int, eval_sets: tuple[str, ...], *, seed: int
) -> Datasets:
    """Load the dataset `cfg` describes, decoded at `sample_rate` (the frontend's), with the
    training split and each evaluation set. `seed` seeds the training crops."""
    if isinstance(eval_sets, str):
        eval_sets = (eval_sets,)
    skips = Skips(cfg.on_bad_audio == "skip")
    classes = cfg.classes
    recordings = None
    if cfg.kind == "synthetic":
        from runner.data.synthetic import ensure_synthetic, species_names

        manifest = ensure_synthetic(cfg)
        classes = classes or species_names(cfg.synthetic.n_species, cfg.synthetic.preset)
        segments, source = read_manifest(manifest, classes, skips), str(manifest)
    elif cfg.kind == "manifest":
        assert cfg.manifest is not None
        segments, source = read_manifest(cfg.manifest, classes, skips), cfg.manifest
    else:
        recordings = raven_mod.read_tables(cfg.raven, classes, skips)
        segments = [Segment(r.path, (), None, None, r.split, None, r.where) for r in recordings]
        source = str(cfg.raven.tables)

    cache, segments = _cache_audio(cfg, sample_rate, segments, skips)
    durations = {
        p: cache.lengths[cache.index_of(p)] / sample_rate for p in {s.path for s in segments}
    }
    if recordings is not None:
        segments = _raven_windows(cfg, recordings, {s.path for s in segments}, durations, skips)
    segments = _fit_to_files(segments, durations, skips)
    if not segments:
        raise UserError(
            f"{source}: no usable rows are left after skipping bad items ({_counts(skips)})"
        )

    classes = classes or tuple(sorted({c for s in segments for c in s.labels}))
    if not classes:
        raise UserError(f"{source}: no row has a label; a classifier needs at least one class")
    splits = _assign_splits(cfg, segments, classes)
    _check_splits(cfg, source, splits, classes, eval_sets)

    clip_len = round(cfg.clip_s * sample_rate)
    hop_len = round((cfg.eval_hop_s or cfg.clip_s) * sample_rate)
    train = _train_dataset(cache, splits[cfg.train_split], classes, clip_len, cfg.normalize, seed)
    evals = {
        name: _eval_dataset(name, cache, splits[name], classes, clip_len, hop_len, cfg.normalize)
        for name in eval_sets
    }
    if skips.counts:
        log.warning(
            "%s: on_bad_audio: skip left out %d items: %s",
            source, sum(skips.counts.values()), _counts(skips),
        )  # fmt: skip
    ds = Datasets(classes, train, evals, dict(skips.counts), sample_rate, source)
    log.info("%s", ds.summary())
    return ds


def _counts(skips: Skips) -> str:
    return (
        "; ".join(f"{n} {r} (e.g. {skips.examples[r]})" for r, n in sorted(skips.counts.items()))
        or "none"
    )


def _cache_audio(cfg: DataConfig, sample_rate: int, segments: list[Segment], skips: Skips):
    """Check every file exists, open (or build) the cache, leave out rows whose audio is bad."""
    rows_of: dict[str, list[Segment]] = defaultdict(list)
    for s in segments:
        rows_of[s.path].append(s)
    present = []
    for path, rows in rows_of.items():
        if os.path.isfile(path):
            present.append(path)
        else:
            skips.bad("missing_file", f"{rows[0].where}: audio file {path} not found", n=len(rows))
    try:
        cache = open_cache(present, sample_rate, cfg.cache_dir, fail_fast=not skips.skip)
    except BadAudio as bad:
        raise UserError(
            f"{rows_of[bad.path][0].where}: {bad.path}: {bad.reason}: {bad.detail}; fix or remove "
            "the file, or set data.on_bad_audio: skip to leave it out"
        ) from None
    good = set()
    for path in present:
        i = cache.index_of(path)
        if cache.status[i] == OK:
            good.add(path)
        else:
            rows = rows_of[path]
            skips.bad(
                cache.status[i],
                f"{rows[0].where}: {path}: {cache.status[i]}: {cache.detail[i]}",
                n=len(rows),
            )
    return cache, [s for s in segments if s.path in good]


def _raven_windows(cfg, recordings, good_paths, durations, skips) -> list[Segment]:
    hop_s = cfg.raven.hop_s or cfg.clip_s
    out = []
    for rec in recordings:
        if rec.path not in good_paths:
            continue
        duration = durations[rec.path]
        for box in list(rec.boxes):
            if box.begin_s >= duration:
                skips.bad(
                    "segment_out_of_range",
                    f"{box.where}: box begins at {box.begin_s} s, after the end of {rec.path} "
                    f"({duration:.2f} s)",
                )
                rec.boxes.remove(box)
        out += raven_mod.windows(rec, duration, cfg.clip_s, hop_s, cfg.raven.min_overlap_s)
    return out


def _fit_to_files(
    segments: list[Segment], durations: dict[str, float], skips: Skips
) -> list[Segment]:
    """Fill in whole-file segments and check each segment lies inside its file."""
    out = []
    for s in segments:
        duration = durations[s.path]
        start, end = s.start_s or 0.0, s.end_s if s.end_s is not None else duration
        if start >= duration or end > duration + END_TOLERANCE_S:
            skips.bad(
                "segment_out_of_range",
                f"{s.where}: segment {start}-{end} s is outside {s.path}, which lasts {duration:.3f} s",
            )
            continue
        out.append(Segment(s.path, s.labels, start, min(end, duration), s.split, s.fold, s.where))
    return out


def _assign_splits(cfg: DataConfig, segments: list[Segment], classes) -> dict[str, list[Segment]]:
    """Named splits from the data, else the user's folds, else seeded stratified K-fold;
    with folds, fold `kfold.fold` is the split `test` and the other folds are `train`."""
    splits: dict[str, list[Segment]] = defaultdict(list)
    if any(s.split is not None for s in segments):
        for s in segments:
            splits[s.split or ""].append(s)
        return splits
    if any(s.fold is not None for s in segments):
        fold_of = {id(s): s.fold for s in segments}
    else:
        groups = sorted({s.path for s in segments})  # a recording is never cut across folds
        index = {p: g for g, p in enumerate(groups)}
        col = {c: j for j, c in enumerate(classes)}
        counts = np.zeros((len(groups), len(classes)), dtype=np.int64)  # (groups, classes)
        sizes = np.zeros(len(groups), dtype=np.int64)
        for s in segments:
            sizes[index[s.path]] += 1
            for c in s.labels:
                counts[index[s.path], col[c]] += 1
        folds = stratified_folds(counts, sizes, cfg.kfold.k, cfg.kfold.seed)
        fold_of = {id(s): int(folds[index[s.path]]) for s in segments}
    for s in segments:
        splits["test" if fold_of[id(s)] == cfg.kfold.fold else "train"].append(s)
    return splits


def _check_splits(cfg: DataConfig, source: str, splits, classes, eval_sets) -> None:
    present = ", ".join(f"{k} ({len(v)} rows)" for k, v in sorted(splits.items())) or "none"
    for name in (cfg.train_split, *eval_sets):
        if not splits.get(name):
            what = "data.train_split" if name == cfg.train_split else "eval"
            raise UserError(
                f"{source}: split {name!r} (named in {what}) has no clips; the data has {present}; "
                f"name one of those, or add rows with that split"
            )
    trained = {c for s in splits[cfg.train_split] for c in s.labels}
    untrained = [c for c in classes if c not in trained]
    if untrained:
        raise UserError(
            f"{source}: class(es) {', '.join(repr(c) for c in untrained[:5])} have no training "
            f"example in split {cfg.train_split!r}; add training rows for them, or list only "
            "trainable classes in data.classes"
        )


def _targets(segments: list[Segment], classes) -> np.ndarray:
    col = {c: j for j, c in enumerate(classes)}
    targets = np.zeros((len(segments), len(classes)), dtype=np.float32)  # (n, n_classes)
    for i, s in enumerate(segments):
        for c in s.labels:
            targets[i, col[c]] = 1.0
    return targets


def _train_dataset(cache, segments, classes, clip_len, normalize, seed) -> TrainDataset:
    sr = cache.sample_rate
    files = [cache.index_of(s.path) for s in segments]
    starts = [round(s.start_s * sr) for s in segments]
    stops = [max(round(s.end_s * sr), round(s.start_s * sr) + 1) for s in segments]
    stops = [min(b, int(cache.lengths[f])) for f, b in zip(files, stops)]
    return TrainDataset(
        cache, np.array(files), np.array(starts), np.array(stops), _targets(segments, classes),
        clip_len, normalize, seed=seed,
    )  # fmt: skip


def _eval_dataset(name, cache, segments, classes, clip_len, hop_len, normalize) -> EvalDataset:
    sr = cache.sample_rate
    targets = _targets(segments, classes)
    file_index: dict[str, int] = {}
    files, starts, stops, rows, file_ids = [], [], [], [], []
    for i, s in enumerate(segments):
        f = cache.index_of(s.path)
        a = round(s.start_s * sr)
        b = min(max(round(s.end_s * sr), a + 1), int(cache.lengths[f]))
        fid = file_index.setdefault(s.path, len(file_index))
        for w in raven_mod.window_starts(b - a, clip_len, hop_len):
            w = int(w)
            files.append(f)
            starts.append(a + w)
            stops.append(min(a + w + clip_len, b))
            rows.append(i)
            file_ids.append(fid)
    return EvalDataset(
        cache, np.array(files), np.array(starts), np.array(stops), targets[rows], clip_len,
        normalize, name=name, file_ids=np.array(file_ids), file_names=tuple(file_index),
    )  # fmt: skip
