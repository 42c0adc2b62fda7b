"""The built-in synthetic bird-soundscape dataset: 16 species whose differences the grid probes.

Each species is a deterministic song recipe (with small per-rendition jitter in pitch and tempo)
built from the call types of the seed: tonal whistles, sweeps, trills, harmonic stacks, a
hummingbird-like buzz, chips and warbles, all between 0.5 and 10 kHz. Some classes are
confusable on purpose, so that spectrogram settings matter:

- `whistle_lo` / `whistle_hi`: the same whistle a semitone apart (3.0 vs 3.18 kHz): frequency
  resolution (window length, mel or not) decides;
- `trill_slow` / `trill_fast`: the same note repeated at 14 vs 35 Hz: time resolution (hop,
  window) decides;
- `high_seee` sings above 8 kHz, where mel bands are wide; `low_hoot` below 1 kHz.

A clip holds 0-3 species at random onsets and per-call SNR over a background of pink or brown
noise, low wind gusts, a stationary insect band and distractor sounds that are no class
(frog pulses, engine rumble, an unknown bird's V-sweep, a dog's bark). Splits: `train` and
`test` at curated-recording SNR (+5 to +25 dB), and `field`: -10 to +5 dB, distance low-pass
filtered and reverberant (RT60 0.3-1.2 s), like the seed's SWAMP recordings.

The dataset is written as audio files plus a native `manifest.csv` (so it goes through the
same loader as user data), into `<output_dir>/synthetic-<hash of the settings>/`, once:

    python -m runner.data.synthetic                       # generate the default set, print its path
    python -m runner.data.synthetic --sheet species.png   # one spectrogram per species

Same settings, same bytes: every clip has its own generator seeded with (seed, split, index).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from runner.data.config import HARD_PITCH_FACTORS, DataConfig, SyntheticConfig

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
SPLITS = ("train", "test", "field")
Song = Callable[[np.random.Generator, int], np.ndarray]

# ---- building blocks: every function returns float32/float64 samples `(n,)` -----------------


def _n(seconds: float, sr: int) -> int:
    return max(1, round(seconds * sr))


def _ramp(n: int, sr: int, attack_s: float = 0.008, release_s: float = 0.015) -> np.ndarray:
    """Raised-cosine attack and release, so notes start and stop without clicks."""
    env = np.ones(n)
    a, r = min(n // 2, _n(attack_s, sr)), min(n // 2, _n(release_s, sr))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r :] = (0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)) if r else 1.0
    return env


def _tone(freq_hz: np.ndarray, sr: int) -> np.ndarray:
    """A sinusoid following a per-sample frequency track `(n,)` in Hz."""
    return np.sin(2 * np.pi * np.cumsum(freq_hz) / sr)


def _glide(f0_hz: float, f1_hz: float, seconds: float, sr: int) -> np.ndarray:
    """A note sweeping linearly from f0 to f1, with click-free edges."""
    n = _n(seconds, sr)
    return _tone(np.linspace(f0_hz, f1_hz, n), sr) * _ramp(n, sr)


def _band_noise(
    rng: np.random.Generator, n: int, sr: int, lo_hz: float, hi_hz: float
) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz in the frequency domain, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec *= (f >= lo_hz) & (f <= hi_hz)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _colored_noise(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (1 = pink, 2 = brown) above 20 Hz, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec *= np.where(f > 20, np.maximum(f, 20) ** (-exponent / 2), 0)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _series(notes: list[tuple[float, np.ndarray]], sr: int) -> np.ndarray:
    """Place notes `(onset_s, samples)` on one track."""
    n = max(_n(t, sr) + x.size for t, x in notes)
    out = np.zeros(n)
    for t, x in notes:
        i = _n(t, sr) if t > 0 else 0
        out[i : i + x.size] += x
    return out


def _jitter(rng: np.random.Generator, spread: float) -> float:
    """A factor near 1: each rendition varies a little, as individual birds do."""
    return float(1 + rng.uniform(-spread, spread))


# ---- the 16 species -------------------------------------------------------------------------
# Pitch jitter is kept at +-1 % for the semitone pair (a semitone is 5.9 %), trill-rate jitter at
# +-8 % for the 14/35 Hz pair, so the pairs stay separable by resolution, not by chance.


def _whistle(base_hz: float) -> Song:
    def song(rng, sr):
        f = base_hz * _jitter(rng, 0.01)
        d = 0.35 * _jitter(rng, 0.1)
        note = _tone(np.full(_n(d, sr), f), sr) * _ramp(_n(d, sr), sr, 0.02, 0.04)
        return _series([(0.0, note), (d + 0.15, note)], sr)

    return song


def _trill(rate_hz: float) -> Song:
    def song(rng, sr):
        rate = rate_hz * _jitter(rng, 0.08)
        p = _jitter(rng, 0.02)
        note = _glide(4400 * p, 3900 * p, 0.014, sr)
        return _series([(k / rate, note) for k in range(int(1.1 * rate))], sr)

    return song


def _high_seee(rng, sr):
    p = _jitter(rng, 0.02)
    return _glide(8600 * p, 9300 * p, 0.6 * _jitter(rng, 0.1), sr)


def _low_hoot(rng, sr):
    p = _jitter(rng, 0.03)
    hoot = _glide(640 * p, 560 * p, 0.28, sr)
    return _series([(k * 0.45, hoot) for k in range(3)], sr)


def _sweep(f0_hz: float, f1_hz: float) -> Song:
    def song(rng, sr):
        p, d = _jitter(rng, 0.03), 0.25 * _jitter(rng, 0.1)
        note = _glide(f0_hz * p, f1_hz * p, d, sr)
        return _series([(0.0, note), (d + 0.2, note)], sr)

    return song


def _stack(f0_hz: float, harmonics: int, note_s: float, n_notes: int, gap_s: float) -> Song:
    def song(rng, sr):
        f0 = f0_hz * _jitter(rng, 0.03)
        n = _n(note_s, sr)
        note = sum(_tone(np.full(n, h * f0), sr) / h for h in range(1, harmonics + 1))
        note = note * _ramp(n, sr, 0.015, 0.03)
        return _series([(k * (note_s + gap_s), note) for k in range(n_notes)], sr)

    return song


def _buzz(rng, sr):
    """A hummingbird-like buzz: a 3-7 kHz noise band amplitude-modulated at 45-65 Hz."""
    n = _n(0.7 * _jitter(rng, 0.1), sr)
    am = 0.5 + 0.5 * np.sin(2 * np.pi * 55 * _jitter(rng, 0.15) * np.arange(n) / sr)
    return _band_noise(rng, n, sr, 3000, 7000) * am * _ramp(n, sr, 0.02, 0.05) * 0.5


def _chips(rng, sr):
    chip = _glide(7000, 5000, 0.012, sr)
    t, notes = 0.0, []
    for _ in range(int(rng.integers(4, 8))):
        notes.append((t, chip * _jitter(rng, 0.2)))
        t += rng.uniform(0.08, 0.2)
    return _series(notes, sr)


def _warble(rng, sr):
    n = _n(0.9 * _jitter(rng, 0.1), sr)
    t = np.arange(n) / sr
    f = 3800 * _jitter(rng, 0.03) + 700 * np.sin(2 * np.pi * 9 * _jitter(rng, 0.1) * t)
    return _tone(f, sr) * _ramp(n, sr, 0.02, 0.05)


def _two_note(rng, sr):
    p = _jitter(rng, 0.02)
    return _series(
        [(0.0, _glide(4200 * p, 4200 * p, 0.3, sr)), (0.38, _glide(3600 * p, 3550 * p, 0.35, sr))],
        sr,
    )


def _rattle(rng, sr):
    """A dry rattle: 6 ms broadband noise bursts (2-8 kHz) at 22 Hz."""
    rate = 22 * _jitter(rng, 0.08)
    burst_n = _n(0.006, sr)
    notes = [
        (
            k / rate,
            _band_noise(rng, burst_n, sr, 2000, 8000) * 0.4 * _ramp(burst_n, sr, 0.001, 0.002),
        )
        for k in range(int(0.8 * rate))
    ]
    return _series(notes, sr)


def _bouncing_ball(rng, sr):
    """Short downslurred notes at ever shorter intervals (an accelerating series)."""
    p = _jitter(rng, 0.02)
    note = _glide(5200 * p, 4700 * p, 0.03, sr)
    t, gap, notes = 0.0, 0.22 * _jitter(rng, 0.1), []
    for _ in range(9):
        notes.append((t, note))
        t, gap = t + gap, gap * 0.8
    return _series(notes, sr)


@dataclass(frozen=True)
class Species:
    name: str
    description: str
    song: Song


# Order matters: a config with fewer species takes the first ones, so the confusable pairs and
# the band edges come first.
SPECIES: tuple[Species, ...] = (
    Species("whistle_lo", "tonal whistle, 3.0 kHz", _whistle(3000.0)),
    Species("whistle_hi", "same whistle a semitone up, 3.18 kHz", _whistle(3000.0 * 2 ** (1 / 12))),
    Species("trill_slow", "trill, 4.4-3.9 kHz notes at 14 Hz", _trill(14.0)),
    Species("trill_fast", "same trill at 35 Hz", _trill(35.0)),
    Species("high_seee", "thin up-slurred whistle, 8.6-9.3 kHz", _high_seee),
    Species("low_hoot", "three hoots, 640-560 Hz", _low_hoot),
    Species("upsweep", "two up-sweeps, 2.0-5.5 kHz", _sweep(2000.0, 5500.0)),
    Species("downsweep", "two down-sweeps, 6.5-2.5 kHz", _sweep(6500.0, 2500.0)),
    Species("harmonic_stack", "harmonic stack, f0 900 Hz x6", _stack(900.0, 6, 0.5, 1, 0.0)),
    Species("buzz", "3-7 kHz buzz, AM at 55 Hz", _buzz),
    Species("chips", "4-7 short chips, 7-5 kHz", _chips),
    Species("warble", "warble, 3.8 kHz FM +-0.7 kHz at 9 Hz", _warble),
    Species("two_note", "fee-bee: 4.2 kHz then 3.6 kHz", _two_note),
    Species("nasal_yank", "3 nasal notes, f0 1.4 kHz x4", _stack(1400.0, 4, 0.12, 3, 0.13)),
    Species("rattle", "noise-burst rattle at 22 Hz", _rattle),
    Species("bouncing_ball", "accelerating series, 5.2 kHz", _bouncing_ball),
)


def species_names(n_species: int = len(SPECIES), preset: str = "default") -> tuple[str, ...]:
    """The class names of a synthetic set, in class order. `hard`: every recipe at each pitch
    factor in turn (`whistle_lo_x100` ... `bouncing_ball_x100`, `whistle_lo_x84`, ...)."""
    if preset == "hard":
        return tuple(_hard_species(i)[0] for i in range(n_species))
    return tuple(s.name for s in SPECIES[:n_species])


def _hard_species(index: int) -> tuple[str, Species, float]:
    """(name, recipe, pitch factor) of class `index` of the hard preset."""
    recipe = SPECIES[index % len(SPECIES)]
    factor = HARD_PITCH_FACTORS[index // len(SPECIES)]
    return f"{recipe.name}_x{round(100 * factor)}", recipe, factor


def _sing(cfg: SyntheticConfig, index: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One rendition of class `index`. A pitch factor p is applied by rendering the recipe at
    sample rate sr / p and playing it at sr: every frequency x p, every duration / p."""
    if cfg.preset != "hard":
        return SPECIES[index].song(rng, sr)
    _, recipe, factor = _hard_species(index)
    return recipe.song(rng, sr / factor)


# ---- backgrounds and distractors (never a class) ----------------------------------------------


def _gusts(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Low wind: brown noise under 400 Hz with a slow envelope of 1-3 gusts."""
    t = np.arange(n) / sr
    env = 0.15 + sum(
        np.exp(-0.5 * ((t - rng.uniform(0, t[-1])) / rng.uniform(0.2, 0.8)) ** 2)
        for _ in range(int(rng.integers(1, 4)))
    )
    return _band_noise(rng, n, sr, 20, 400) * env


def _insects(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A stationary insect band: 400-800 Hz wide, centred at 5.5-8 kHz."""
    centre, width = rng.uniform(5500, 8000), rng.uniform(400, 800)
    return _band_noise(rng, n, sr, centre - width / 2, centre + width / 2)


def _distractor(rng: np.random.Generator, sr: int) -> np.ndarray:
    kind = int(rng.integers(0, 4))
    if kind == 0:  # frog: pulses of 300-450 Hz at 6 Hz
        pulse = _stack(rng.uniform(300, 450), 2, 0.04, 1, 0)(rng, sr)
        return _series([(k / 6, pulse) for k in range(int(rng.integers(4, 10)))], sr)
    if kind == 1:  # engine rumble swelling and fading
        n = _n(rng.uniform(1.0, 2.5), sr)
        return _band_noise(rng, n, sr, 40, 600) * np.hanning(n)
    if kind == 2:  # an unknown bird: V-shaped sweep
        f = np.concatenate(
            [np.linspace(3200, 1800, _n(0.15, sr)), np.linspace(1800, 3200, _n(0.15, sr))]
        )
        return _tone(f, sr) * _ramp(f.size, sr)
    bark = _stack(rng.uniform(450, 600), 6, 0.1, 1, 0)(rng, sr)  # a dog
    return _series([(0.0, bark), (0.35, bark)], sr)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2))) + 1e-12


def _field_path(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """Distance and room: a low-pass (air absorbs the highs) and a diffuse exponential reverb."""
    rt60 = rng.uniform(0.3, 1.2)
    ir_n = _n(rt60, sr)
    ir = rng.standard_normal(ir_n) * np.exp(-6.9 * np.arange(ir_n) / ir_n)  # -60 dB at rt60
    ir *= 10 ** (rng.uniform(-6, 3) / 20) / _rms(ir) / math.sqrt(ir_n)  # reverb vs direct level
    ir[0] += 1.0  # the direct path
    n = x.size + ir_n - 1
    n_fft = 1 << (n - 1).bit_length()  # a power of two: an FFT of a prime length is slow
    f = np.fft.rfftfreq(n_fft, 1 / sr)
    cutoff = rng.uniform(3000, 9000)
    lowpass = 1 / np.sqrt(1 + (f / cutoff) ** 4)  # second order
    return np.fft.irfft(np.fft.rfft(x, n_fft) * np.fft.rfft(ir, n_fft) * lowpass, n_fft)[:n]


# ---- one clip ---------------------------------------------------------------------------------


def render_clip(
    cfg: SyntheticConfig, duration_s: float, split: str, index: int
) -> tuple[np.ndarray, list[dict]]:
    """One soundscape `(samples,)` float32 and its calls (species, onset_s, snr_db).

    Deterministic in (cfg.seed, split, index) alone, so clips can be rendered in any order.
    """
    sr = cfg.sample_rate
    field, hard = split == "field", cfg.preset == "hard"
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    if hard:  # recordings of uneven length, none longer than the clip
        duration_s = float(rng.uniform(min(1.0, duration_s), duration_s))
    n = _n(duration_s, sr)

    exponent = 1.0 if rng.random() < 0.5 else 2.0
    background = _colored_noise(rng, n, sr, exponent)
    if rng.random() < (0.8 if field else 0.4):
        background += _gusts(rng, n, sr) * rng.uniform(0.5, 2.0)
    if rng.random() < (0.7 if field else 0.4):
        background += _insects(rng, n, sr) * rng.uniform(0.2, 0.8)
    low, high = (1, 4) if hard else (0, 3 if field else 2)
    for _ in range(int(rng.integers(low, high))):
        d = _distractor(rng, sr)[:n]
        start = int(rng.integers(0, n - d.size + 1))
        background[start : start + d.size] += d / _rms(d) * rng.uniform(0.3, 1.5)
    background *= 10 ** (rng.uniform(-45, -35) / 20) / _rms(background)  # about -40 dBFS

    k_max = cfg.max_species_per_clip
    weights = np.array(([0.15, 0.3, 0.3, 0.25] if hard else [0.1, 0.4, 0.3, 0.2])[: k_max + 1])
    k = int(rng.choice(k_max + 1, p=weights / weights.sum()))
    chosen = list(rng.choice(cfg.n_species, size=k, replace=False))
    if index < cfg.n_species and index not in chosen:  # every species appears early in each split
        chosen = [index, *chosen[: max(0, k_max - 1)]]
    x, calls = background.copy(), []
    names = species_names(cfg.n_species, cfg.preset)
    for s in chosen:
        song = _sing(cfg, int(s), rng, sr)
        if field:
            song = _field_path(rng, song, sr)
        song = song[:n]
        snr_db = (
            rng.uniform(-10, 5) if field else rng.uniform(-5, 10) if hard else rng.uniform(5, 25)
        )
        song *= _rms(background) * 10 ** (snr_db / 20) / _rms(song)
        start = int(rng.integers(0, n - song.size + 1))
        x[start : start + song.size] += song
        calls.append(
            dict(species=names[int(s)], onset_s=round(start / sr, 4), snr_db=round(snr_db, 2))
        )
    peak = float(np.abs(x).max())
    if peak > 0.9:  # never clip when quantised
        x *= 0.9 / peak
    return x.astype(np.float32), calls


# ---- the dataset on disk ----------------------------------------------------------------------


def settings_hash(cfg: SyntheticConfig, duration_s: float) -> str:
    """12 hex chars identifying what the settings generate (the output folder is not one)."""
    settings = dataclasses.asdict(cfg) | dict(duration_s=duration_s, version=GENERATOR_VERSION)
    del settings["output_dir"]
    if settings["preset"] == "default":  # the folders generated before presets existed still fit
        del settings["preset"]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def dataset_dir(cfg: DataConfig) -> Path:
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
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if manifest.is_file():
                return manifest
            if root.exists():
                shutil.rmtree(root)
            generate(cfg.synthetic, cfg.synthetic_duration_s, root, workers=workers)
            return manifest
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
    from runner.data.sampling import available_cores

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
                dict(name=name, description=_describe(cfg, i))
                for i, name in enumerate(species_names(cfg.n_species, cfg.preset))
            ],
        )
        (tmp / "species.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("generated %d clips in %.1f s", len(jobs), time.perf_counter() - t0)


def _describe(cfg: SyntheticConfig, index: int) -> str:
    if cfg.preset != "hard":
        return SPECIES[index].description
    _, recipe, factor = _hard_species(index)
    return f"{recipe.description}, every frequency x {factor}"


# ---- the species sheet ------------------------------------------------------------------------


def write_species_sheet(path: str | os.PathLike, sample_rate: int = 22050, seed: int = 0) -> None:
    """A PNG with one clean rendition of each species as a linear-frequency dB spectrogram
    (window 512, hop 128), so a person can see the classes and the confusable pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    win, hop, span_s = 512, 128, 1.6
    fig, axes = plt.subplots(4, 4, figsize=(16, 13), sharex=True, sharey=True)
    for ax, sp in zip(axes.flat, SPECIES):
        rng = np.random.default_rng(seed)
        song = sp.song(rng, sample_rate)
        x = np.zeros(_n(span_s, sample_rate))
        x[: min(x.size, song.size)] = song[: x.size]
        spec = torch.stft(
            torch.from_numpy(x), win, hop, window=torch.hann_window(win, dtype=torch.float64),
            return_complex=True,
        ).abs().pow(2)  # fmt: skip
        db = 10 * np.log10(spec.numpy() + 1e-10)
        db = np.maximum(db, db.max() - 70)
        ax.imshow(
            db, origin="lower", aspect="auto", cmap="magma",
            extent=(0, x.size / sample_rate, 0, sample_rate / 2000),
        )  # fmt: skip
        ax.set_title(f"{sp.name}\n{sp.description}", fontsize=10)
        ax.axhline(8.0, color="white", lw=0.5, ls=":")
        ax.axhline(1.0, color="white", lw=0.5, ls=":")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    fig.suptitle(
        "specsweep synthetic species: one clean song each (linear frequency, window 512, hop 128, "
        f"{sample_rate} Hz; dotted lines at 1 and 8 kHz)",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


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
    sr, n = sample_rate, _n(duration_s, sample_rate)
    rng = np.random.default_rng([seed, 7])
    x = _colored_noise(rng, n, sr, 1.0) * 10 ** (-40 / 20)
    by_name = {sp.name: sp for sp in SPECIES}
    for name, onset_s in calls:
        if name not in by_name:
            raise ValueError(f"species {name!r}: not one of {', '.join(by_name)}")
        song = by_name[name].song(rng, sr)
        start = _n(onset_s, sr)
        song = song[: max(0, n - start)]
        x[start : start + song.size] += song * 10 ** ((snr_db - 40) / 20) / _rms(song)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheet", metavar="PNG", help="write the species sheet here instead")
    parser.add_argument(
        "--recordings", metavar="DIR", help="write long field recordings here instead"
    )
    parser.add_argument("--n", type=int, default=4, help="recordings (with --recordings)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="length of each (60)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.recordings:
        for path in write_recordings(args.recordings, args.n, args.duration_s):
            print(path)
    elif args.sheet:
        write_species_sheet(args.sheet)
        print(args.sheet)
    else:
        print(ensure_synthetic(DataConfig()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
