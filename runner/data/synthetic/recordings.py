"""Long synthetic field recordings with a few songs each, for trying `specsweep predict`.

python -m runner.data.synthetic --recordings field/   # 4 recordings of 60 s and calls.csv
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from runner.data.synthetic._signals import colored_noise, n_samples, rms
from runner.data.synthetic.species import SPECIES, species_names


def render_recording(
    duration_s: float,
    calls: list[tuple[str, float]],
    *,
    sample_rate: int = 22050,
    seed: int = 0,
    snr_db: float = 15.0,
) -> np.ndarray:
    """A long recording `(samples,)`: pink noise at about -40 dBFS with one song of each
    `(species name, onset_s)` in `calls` at `snr_db` (for trying `specsweep predict`)."""
    sr, n = sample_rate, n_samples(duration_s, sample_rate)
    rng = np.random.default_rng([seed, 7])
    x = colored_noise(rng, n, sr, 1.0) * 10 ** (-40 / 20)
    by_name = {sp.name: sp for sp in SPECIES}
    for name, onset_s in calls:
        if name not in by_name:
            raise ValueError(f"species {name!r}: not one of {', '.join(by_name)}")
        song = by_name[name].song(rng, sr)
        start = n_samples(onset_s, sr)
        song = song[: max(0, n - start)]
        x[start : start + song.size] += song * 10 ** ((snr_db - 40) / 20) / rms(song)
    peak = float(np.abs(x).max())
    if peak > 0.9:
        x *= 0.9 / peak
    return x.astype(np.float32)


def write_recordings(
    out_dir: str | os.PathLike,
    n: int = 4,
    duration_s: float = 60.0,
    n_species: int = 16,
    seed: int = 0,
) -> list[Path]:
    """`n` long FLAC recordings with a few songs each, and `calls.csv` (file, species, onset_s)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 11])
    names = species_names(n_species)
    paths, rows = [], ["file,species,onset_s"]
    for i in range(n):
        calls = [
            (names[int(rng.integers(len(names)))], round(float(rng.uniform(0, duration_s - 3)), 2))
            for _ in range(max(1, int(duration_s // 10)))
        ]
        path = out / f"recording{i:02d}.flac"
        sf.write(path, render_recording(duration_s, calls, seed=seed + i), 22050)
        rows += [f"{path.name},{name},{onset}" for name, onset in calls]
        paths.append(path)
    (out / "calls.csv").write_text("\n".join(rows) + "\n")
    return paths
