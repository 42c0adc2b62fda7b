"""The synthetic dataset on disk: audio files, `manifest.csv`, `calls.csv` and `species.json`.

The dataset is written as audio files plus a native `manifest.csv` (so it goes through the
same loader as user data), into `<output_dir>/synthetic-<hash of the settings>/`, once. Same
settings, same bytes: every clip has its own generator seeded with (seed, split, index), so the
clips can be rendered by any number of processes in any order.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf

from runner.data.config import DataConfig, SyntheticConfig
from runner.data.synthetic.clip import SPLITS, render_clip
from runner.data.synthetic.species import describe, species_names
from runner.locks import file_lock

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1


def settings_hash(cfg: SyntheticConfig, duration_s: float) -> str:
    """12 hex chars identifying what the settings generate (the output folder is not one)."""
    settings = dataclasses.asdict(cfg) | dict(duration_s=duration_s, version=GENERATOR_VERSION)
    del settings["output_dir"]
    if settings["preset"] == "default":  # the folders generated before presets existed still fit
        del settings["preset"]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def dataset_dir(cfg: DataConfig) -> Path:
    """`<output_dir>/synthetic-<settings hash>/`: where the set for `cfg` is (or will be)."""
    duration = cfg.synthetic_duration_s
    return Path(cfg.synthetic.output_dir) / f"synthetic-{settings_hash(cfg.synthetic, duration)}"


def ensure_synthetic(cfg: DataConfig, *, workers: int | None = None) -> Path:
    """Path of the synthetic manifest for `cfg`, generating the dataset first if needed.

    Safe under concurrency like the audio cache: one process generates (under a file lock, into
    a temporary folder renamed into place), the others wait and reuse.
    """
    root = dataset_dir(cfg)
    manifest = root / "manifest.csv"
    if manifest.is_file():
        return manifest
    with file_lock(root.parent / f"{root.name}.lock"):  # blocks while another process generates
        if manifest.is_file():
            return manifest
        if root.exists():
            shutil.rmtree(root)
        generate(cfg.synthetic, cfg.synthetic_duration_s, root, workers=workers)
        return manifest


def _write_clip(args: tuple) -> list[dict]:
    cfg, duration_s, split, index, out = args
    x, calls = render_clip(cfg, duration_s, split, index)
    fmt = cfg.format.upper()
    sf.write(out, x, cfg.sample_rate, format=fmt, subtype="PCM_16")
    return calls


def generate(
    cfg: SyntheticConfig, duration_s: float, root: Path, *, workers: int | None = None
) -> None:
    """Write the dataset into `root` (which must not exist): audio, manifest.csv, calls.csv,
    species.json. Files appear atomically: written in a temporary folder, then renamed."""
    from runner.cores import available_cores

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{root.name}-", dir=root.parent))
    try:
        jobs, rows = [], []
        for split, count in zip(SPLITS, (cfg.n_train, cfg.n_test, cfg.n_field)):
            (tmp / split).mkdir()
            for i in range(count):
                rel = f"{split}/{split}_{i:05d}.{cfg.format}"
                jobs.append((cfg, duration_s, split, i, str(tmp / rel)))
                rows.append((rel, split))
        workers = available_cores() if workers is None else workers
        log.info("generating %d synthetic clips into %s", len(jobs), root)
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                results = list(pool.map(_write_clip, jobs, chunksize=16))
        else:
            results = [_write_clip(job) for job in jobs]
        with open(tmp / "manifest.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["path", "labels", "split"])
            for (rel, split), calls in zip(rows, results):
                w.writerow([rel, ";".join(sorted({c["species"] for c in calls})), split])
        with open(tmp / "calls.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["path", "species", "onset_s", "snr_db"])
            for (rel, _), calls in zip(rows, results):
                for c in calls:
                    w.writerow([rel, c["species"], c["onset_s"], c["snr_db"]])
        settings = dataclasses.asdict(cfg) | dict(duration_s=duration_s)
        del settings["output_dir"]  # where it lies is no property of the data (same bytes anywhere)
        meta = dict(
            settings=settings,
            version=GENERATOR_VERSION,
            species=[
                dict(name=name, description=describe(cfg, i))
                for i, name in enumerate(species_names(cfg.n_species, cfg.preset))
            ],
        )
        (tmp / "species.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("generated %d clips in %.1f s", len(jobs), time.perf_counter() - t0)
