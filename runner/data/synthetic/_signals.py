"""The synthetic generator's building blocks: notes, noise and placing sounds on a track.

Plain numpy; every function returns float samples `(n,)` at sample rate `sr` (Hz) and draws any
randomness from the generator it is given, so a clip is a pure function of its seed.
"""

from __future__ import annotations

import numpy as np


def n_samples(seconds: float, sr: int) -> int:
    """`seconds` as a sample count, at least one."""
    return max(1, round(seconds * sr))


def ramp(n: int, sr: int, attack_s: float = 0.008, release_s: float = 0.015) -> np.ndarray:
    """Raised-cosine attack and release, so notes start and stop without clicks."""
    env = np.ones(n)
    a, r = min(n // 2, n_samples(attack_s, sr)), min(n // 2, n_samples(release_s, sr))
    env[:a] = 0.5 - 0.5 * np.cos(np.pi * np.arange(a) / a)
    env[n - r :] = (0.5 + 0.5 * np.cos(np.pi * np.arange(r) / r)) if r else 1.0
    return env


def tone(freq_hz: np.ndarray, sr: int) -> np.ndarray:
    """A sinusoid following a per-sample frequency track `(n,)` in Hz."""
    return np.sin(2 * np.pi * np.cumsum(freq_hz) / sr)


def glide(f0_hz: float, f1_hz: float, seconds: float, sr: int) -> np.ndarray:
    """A note sweeping linearly from f0 to f1, with click-free edges."""
    n = n_samples(seconds, sr)
    return tone(np.linspace(f0_hz, f1_hz, n), sr) * ramp(n, sr)


def band_noise(rng: np.random.Generator, n: int, sr: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    """White noise band-passed to [lo, hi] Hz in the frequency domain, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec *= (f >= lo_hz) & (f <= hi_hz)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def colored_noise(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (1 = pink, 2 = brown) above 20 Hz, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec *= np.where(f > 20, np.maximum(f, 20) ** (-exponent / 2), 0)
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def series(notes: list[tuple[float, np.ndarray]], sr: int) -> np.ndarray:
    """Place notes `(onset_s, samples)` on one track."""
    n = max(n_samples(t, sr) + x.size for t, x in notes)
    out = np.zeros(n)
    for t, x in notes:
        i = n_samples(t, sr) if t > 0 else 0
        out[i : i + x.size] += x
    return out


def jitter(rng: np.random.Generator, spread: float) -> float:
    """A factor near 1: each rendition varies a little, as individual birds do."""
    return float(1 + rng.uniform(-spread, spread))


def rms(x: np.ndarray) -> float:
    """Root mean square, never zero (it divides)."""
    return float(np.sqrt(np.mean(x**2))) + 1e-12
