"""One synthetic soundscape clip: 0-3 species over a background, deterministic in its seed.

A clip holds 0-3 species at random onsets and per-call SNR over a background of pink or brown
noise, low wind gusts, a stationary insect band and distractor sounds that are no class
(frog pulses, engine rumble, an unknown bird's V-sweep, a dog's bark). Splits: `train` and
`test` at curated-recording SNR (+5 to +25 dB), and `field`: -10 to +5 dB, distance low-pass
filtered and reverberant (RT60 0.3-1.2 s), like the Merlin study's SWAMP recordings. The hard preset
has recordings of uneven length, 1-3 distractors, another mix of species counts and lower SNR
outside `field` (-5 to +10 dB).
"""

from __future__ import annotations

import math

import numpy as np

from runner.data.config import SyntheticConfig
from runner.data.synthetic._signals import (
    band_noise,
    colored_noise,
    n_samples,
    ramp,
    rms,
    series,
    tone,
)
from runner.data.synthetic.species import sing, species_names, stack

SPLITS = ("train", "test", "field")


# ---- backgrounds and distractors (never a class) ----------------------------------------------


def _gusts(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Low wind: brown noise under 400 Hz with a slow envelope of 1-3 gusts."""
    t = np.arange(n) / sr
    env = 0.15 + sum(
        np.exp(-0.5 * ((t - rng.uniform(0, t[-1])) / rng.uniform(0.2, 0.8)) ** 2)
        for _ in range(int(rng.integers(1, 4)))
    )
    return band_noise(rng, n, sr, 20, 400) * env


def _insects(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A stationary insect band: 400-800 Hz wide, centred at 5.5-8 kHz."""
    centre, width = rng.uniform(5500, 8000), rng.uniform(400, 800)
    return band_noise(rng, n, sr, centre - width / 2, centre + width / 2)


def _distractor(rng: np.random.Generator, sr: int) -> np.ndarray:
    kind = int(rng.integers(0, 4))
    if kind == 0:  # frog: pulses of 300-450 Hz at 6 Hz
        pulse = stack(rng.uniform(300, 450), 2, 0.04, 1, 0)(rng, sr)
        return series([(k / 6, pulse) for k in range(int(rng.integers(4, 10)))], sr)
    if kind == 1:  # engine rumble swelling and fading
        n = n_samples(rng.uniform(1.0, 2.5), sr)
        return band_noise(rng, n, sr, 40, 600) * np.hanning(n)
    if kind == 2:  # an unknown bird: V-shaped sweep
        f = np.concatenate(
            [
                np.linspace(3200, 1800, n_samples(0.15, sr)),
                np.linspace(1800, 3200, n_samples(0.15, sr)),
            ]
        )
        return tone(f, sr) * ramp(f.size, sr)
    bark = stack(rng.uniform(450, 600), 6, 0.1, 1, 0)(rng, sr)  # a dog
    return series([(0.0, bark), (0.35, bark)], sr)


def _field_path(rng: np.random.Generator, x: np.ndarray, sr: int) -> np.ndarray:
    """Distance and room: a low-pass (air absorbs the highs) and a diffuse exponential reverb."""
    rt60 = rng.uniform(0.3, 1.2)
    ir_n = n_samples(rt60, sr)
    ir = rng.standard_normal(ir_n) * np.exp(-6.9 * np.arange(ir_n) / ir_n)  # -60 dB at rt60
    ir *= 10 ** (rng.uniform(-6, 3) / 20) / rms(ir) / math.sqrt(ir_n)  # reverb vs direct level
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
    n = n_samples(duration_s, sr)

    exponent = 1.0 if rng.random() < 0.5 else 2.0
    background = colored_noise(rng, n, sr, exponent)
    if rng.random() < (0.8 if field else 0.4):
        background += _gusts(rng, n, sr) * rng.uniform(0.5, 2.0)
    if rng.random() < (0.7 if field else 0.4):
        background += _insects(rng, n, sr) * rng.uniform(0.2, 0.8)
    low, high = (1, 4) if hard else (0, 3 if field else 2)
    for _ in range(int(rng.integers(low, high))):
        d = _distractor(rng, sr)[:n]
        start = int(rng.integers(0, n - d.size + 1))
        background[start : start + d.size] += d / rms(d) * rng.uniform(0.3, 1.5)
    background *= 10 ** (rng.uniform(-45, -35) / 20) / rms(background)  # about -40 dBFS

    k_max = cfg.max_species_per_clip
    weights = np.array(([0.15, 0.3, 0.3, 0.25] if hard else [0.1, 0.4, 0.3, 0.2])[: k_max + 1])
    k = int(rng.choice(k_max + 1, p=weights / weights.sum()))
    chosen = list(rng.choice(cfg.n_species, size=k, replace=False))
    if index < cfg.n_species and index not in chosen:  # every species appears early in each split
        chosen = [index, *chosen[: max(0, k_max - 1)]]
    x, calls = background.copy(), []
    names = species_names(cfg.n_species, cfg.preset)
    for s in chosen:
        song = sing(cfg, int(s), rng, sr)
        if field:
            song = _field_path(rng, song, sr)
        song = song[:n]
        snr_db = (
            rng.uniform(-10, 5) if field else rng.uniform(-5, 10) if hard else rng.uniform(5, 25)
        )
        song *= rms(background) * 10 ** (snr_db / 20) / rms(song)
        start = int(rng.integers(0, n - song.size + 1))
        x[start : start + song.size] += song
        calls.append(
            dict(species=names[int(s)], onset_s=round(start / sr, 4), snr_db=round(snr_db, 2))
        )
    peak = float(np.abs(x).max())
    if peak > 0.9:  # never clip when quantised
        x *= 0.9 / peak
    return x.astype(np.float32), calls
