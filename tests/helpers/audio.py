"""Shared helpers for the data tests: real audio files, manifests and Raven tables on disk."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

from runner.data import DataConfig

SR = 8000  # tests decode at a low rate to stay fast; the code path is the same
RAVEN_HEADER = [
    "Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
    "Low Freq (Hz)", "High Freq (Hz)", "Species",
]  # fmt: skip


def write_tone(
    path: Path,
    seconds: float,
    sr: int = SR,
    freq_hz: float = 440.0,
    channels: int = 1,
    amp: float = 0.5,
    subtype: str | None = None,
) -> np.ndarray:
    """Write a sine (identical in every channel) and return the mono samples written."""
    t = np.arange(round(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    sf.write(path, data, sr, subtype=subtype)
    return x


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def manifest_cfg(tmp_path: Path, manifest: Path, **kwargs) -> DataConfig:
    return DataConfig(
        kind="manifest", manifest=str(manifest), cache_dir=str(tmp_path / "cache"), **kwargs
    )


def small_manifest(tmp_path: Path, n_per_class: int = 3, seconds: float = 1.0) -> Path:
    """Classes a (440 Hz), b (880 Hz), a;b (both) in train and test, written as WAV and FLAC."""
    rows = []
    for split in ("train", "test"):
        for i in range(n_per_class):
            for labels, freq in (("a", 440.0), ("b", 880.0), ("a;b", 660.0)):
                ext = "wav" if i % 2 else "flac"
                rel = f"audio/{split}-{labels.replace(';', '_')}-{i}.{ext}"
                write_tone(tmp_path / rel, seconds, freq_hz=freq + 10 * i)
                rows.append([rel, labels, split])
    return write_csv(tmp_path / "manifest.csv", ["path", "labels", "split"], rows)
