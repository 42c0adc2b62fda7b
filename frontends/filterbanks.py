"""The fixed frequency-scale matrices, in float64 numpy: mel, log-spaced and ERB/gammatone bands.

A filterbank is `(n_bands, n_fft // 2 + 1)` (librosa's orientation, so `weights @ spec` maps FFT
bins to bands). These are computed once per frontend and never trained, so they need no torch:
`frontends.functional` turns them into tensors for the modules, and `count_empty` counts the
empty bands of a config (any `BandLayout`) while a sweep file is validated, without importing
torch (so `specsweep plan` stays fast).

    weights = mel_filterbank(22050, 1024, n_mels=128)   # (128, 513) float64
    count_empty(cfg, n_fft=512)                          # bands no FFT bin falls in
"""

from __future__ import annotations

import math

import numpy as np

from ._types import BandLayout

# Slaney's Auditory Toolbox mel scale (librosa's default): linear below 1 kHz, log above.
_SLANEY_F_SP = 200.0 / 3  # Hz per mel in the linear part
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0

# Slaney's MakeERBFilters constants (Glasberg & Moore ERB), as used by Ellis's gammatonegram.
_EAR_Q = 9.26449
_MIN_BW_HZ = 24.7

# A gammatone's response never reaches 0: an ERB band is empty when no FFT bin lies in its
# half-power passband (its response, scaled to 1 at the centre, stays below 1/sqrt(2)).
ERB_EMPTY_BELOW = 1.0 / math.sqrt(2.0)


def _linspace(start: float, end: float, steps: int) -> np.ndarray:
    """`torch.linspace`'s float64 values exactly (it counts the second half back from `end`), so a
    band edge lands on the same side of an FFT bin as it did when these matrices were torch's."""
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    index = np.arange(steps, dtype=np.float64)
    halfway = steps // 2
    return np.where(index < halfway, start + step * index, end - step * (steps - index - 1))


def fft_frequencies(sample_rate: int, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each rFFT bin, `(n_fft // 2 + 1,)` (= `np.fft.rfftfreq`)."""
    return np.arange(n_fft // 2 + 1, dtype=np.float64) * (sample_rate / n_fft)


def n_frames(n_samples: int, n_fft: int, hop_length: int, center: bool) -> int:
    """Number of STFT frames torch.stft returns for a clip of `n_samples` (no torch needed, so
    the sweep's size limits use it too: runner/sweep/limits.py)."""
    if center:
        return 1 + n_samples // hop_length
    return 1 + (n_samples - n_fft) // hop_length


def hz_to_mel(freq_hz: np.ndarray, mel_scale: str = "slaney") -> np.ndarray:
    """Hz -> mel, `mel_scale` "slaney" (librosa's default) or "htk" (2595 log10(1 + f/700))."""
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + freq_hz / 700.0)
    linear = freq_hz / _SLANEY_F_SP
    log_part = (
        _SLANEY_MIN_LOG_MEL
        + np.log(np.maximum(freq_hz, 1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    )
    return np.where(freq_hz >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mels: np.ndarray, mel_scale: str = "slaney") -> np.ndarray:
    """mel -> Hz, the inverse of `hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    linear = _SLANEY_F_SP * mels
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mels - _SLANEY_MIN_LOG_MEL))
    return np.where(mels >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def triangular_filterbank(
    fft_freqs_hz: np.ndarray, edges_hz: np.ndarray, norm: str | None = "slaney"
) -> np.ndarray:
    """Triangles over FFT bins: band `m` rises from `edges[m]`, peaks at `edges[m+1]`, falls to
    `edges[m+2]`. Returns `(n_bands, n_freqs)` with `n_bands = len(edges) - 2`.

    `norm="slaney"` scales each triangle to unit area (2 / bandwidth_hz), as librosa does, so a
    band reports energy density rather than energy summed over a growing number of bins.
    """
    widths_hz = np.diff(edges_hz)  # (n_bands + 1,)
    ramps = edges_hz[:, None] - fft_freqs_hz[None, :]  # (n_bands + 2, n_freqs)
    lower = -ramps[:-2] / widths_hz[:-1, None]
    upper = ramps[2:] / widths_hz[1:, None]
    weights = np.maximum(np.minimum(lower, upper), 0.0)  # (n_bands, n_freqs)
    if norm == "slaney":
        weights = weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"mel_norm: unknown norm {norm!r}; use 'slaney' or None")
    return weights


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
) -> np.ndarray:
    """Mel filterbank `(n_mels, n_fft // 2 + 1)`, equal to `librosa.filters.mel`."""
    f_max_hz = sample_rate / 2.0 if f_max_hz is None else f_max_hz
    mel_range = hz_to_mel(np.array([f_min_hz, f_max_hz]), mel_scale)
    mels = _linspace(float(mel_range[0]), float(mel_range[1]), n_mels + 2)
    edges_hz = mel_to_hz(mels, mel_scale)
    return triangular_filterbank(fft_frequencies(sample_rate, n_fft), edges_hz, norm)


def log_filterbank(
    sample_rate: int,
    n_fft: int,
    n_bands: int,
    f_min_hz: float,
    f_max_hz: float | None = None,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Log-spaced triangular bands `(n_bands, n_fft // 2 + 1)`: edges in geometric progression
    from `f_min_hz` (> 0) to `f_max_hz`, so every band spans the same musical interval (constant Q,
    bandwidth proportional to centre frequency) as a constant-Q transform's bins do."""
    if f_min_hz <= 0:
        raise ValueError(
            f"f_min: the log scale needs f_min > 0 Hz (got {f_min_hz}); set e.g. f_min: 100"
        )
    f_max_hz = sample_rate / 2.0 if f_max_hz is None else f_max_hz
    edges_hz = 10.0 ** _linspace(math.log10(f_min_hz), math.log10(f_max_hz), n_bands + 2)
    return triangular_filterbank(fft_frequencies(sample_rate, n_fft), edges_hz, norm)


def erb_bandwidth_hz(freq_hz: np.ndarray) -> np.ndarray:
    """Equivalent rectangular bandwidth (Hz) of the auditory filter centred at `freq_hz`."""
    return freq_hz / _EAR_Q + _MIN_BW_HZ


def erb_center_frequencies(n_bands: int, f_min_hz: float, f_max_hz: float) -> np.ndarray:
    """`n_bands` centre frequencies, ascending, uniformly spaced on the ERB-rate scale from
    `f_min_hz` (the lowest centre) to just below `f_max_hz` (as Ellis's `fft2gammatonemx`)."""
    eq_bw = _EAR_Q * _MIN_BW_HZ
    steps = np.arange(1, n_bands + 1, dtype=np.float64)
    ratio = math.log(f_min_hz + eq_bw) - math.log(f_max_hz + eq_bw)
    cfreqs = (f_max_hz + eq_bw) * np.exp(steps * ratio / n_bands) - eq_bw  # descending
    return cfreqs[::-1].copy()


def erb_filterbank(
    sample_rate: int,
    n_fft: int,
    n_bands: int,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    power: float = 1.0,
) -> np.ndarray:
    """Gammatone-like weighting of FFT bins `(n_bands, n_fft // 2 + 1)`, after Ellis's
    `fft2gammatonemx` (Gammatone-like spectrograms, 2009): each row is the magnitude response of a
    4th-order gammatone filter (Slaney's pole/zero design, ERB bandwidths) sampled at the rFFT bin
    frequencies, scaled to gain 1 at its centre frequency.

    Ellis applies these magnitude responses to a magnitude spectrogram. Here they are raised to
    `power` so the matrix suits `|X|**power`: with `power=2` each band is the filter's output
    energy; with `power=1` it is Ellis's matrix exactly.
    """
    f_max_hz = sample_rate / 2.0 if f_max_hz is None else f_max_hz
    cf = erb_center_frequencies(n_bands, f_min_hz, f_max_hz)[:, None]  # (n_bands, 1)
    T = 1.0 / sample_rate
    B = 1.019 * 2 * math.pi * erb_bandwidth_hz(cf)  # pole bandwidth, rad/s
    wT = 2 * math.pi * cf * T  # centre frequency, rad/sample
    decay = np.exp(-B * T)
    pole = decay * np.exp(1j * wT)  # (n_bands, 1) complex

    # Slaney's design: four real zeros decay * (cos wT +- k sin wT), k in {sqrt(3 +- 2^1.5)}, and
    # the response's magnitude at the centre frequency (`gain`), used to scale the peak to 1.
    z_cf = np.exp(1j * wT)  # e^{i wT}, (n_bands, 1)
    ks = (
        math.sqrt(3 + 2**1.5),
        -math.sqrt(3 + 2**1.5),
        math.sqrt(3 - 2**1.5),
        -math.sqrt(3 - 2**1.5),
    )
    zeros = [decay * (np.cos(wT) + k * np.sin(wT)) for k in ks]
    gain_numerator = np.ones_like(z_cf)
    for k in ks:
        gain_numerator = gain_numerator * (
            -2 * z_cf**2 * T + 2 * decay * z_cf * T * (np.cos(wT) - k * np.sin(wT))
        )
    gain_denominator = (-2 * decay**2 - 2 * z_cf**2 + 2 * (1 + z_cf**2) * decay) ** 4
    gain = np.abs(gain_numerator / gain_denominator)

    bins = np.arange(n_fft // 2 + 1, dtype=np.float64)[None, :]
    ucirc = np.exp(1j * 2 * math.pi * bins / n_fft)  # (1, n_freqs)
    numerator = np.ones_like(bins)
    for zero in zeros:
        numerator = numerator * np.abs(ucirc - zero)  # (n_bands, n_freqs)
    poles = np.abs((pole - ucirc) * (pole.conj() - ucirc)) ** -4
    weights = (T**4 / gain) * numerator * poles  # (n_bands, n_freqs), magnitude responses
    return weights**power


def linear_bin_range(
    sample_rate: int, n_fft: int, f_min_hz: float, f_max_hz: float | None
) -> tuple[int, int]:
    """`(first, stop)`: the rFFT bins whose centre lies in [f_min, f_max]; first == stop if none."""
    freqs = fft_frequencies(sample_rate, n_fft)
    f_max_hz = sample_rate / 2.0 if f_max_hz is None else f_max_hz
    inside = np.flatnonzero((freqs >= f_min_hz) & (freqs <= f_max_hz))
    if inside.size == 0:
        return 0, 0
    return int(inside[0]), int(inside[-1]) + 1


def weights_for(cfg: BandLayout, n_fft: int, power: float | None = None) -> np.ndarray:
    """The `(n_bands, n_freqs)` matrix of the config's mel, log or erb scale at this n_fft.

    `power` overrides `cfg.power` for the ERB responses (1 = the magnitude response).
    """
    f_max = cfg.sample_rate / 2.0 if cfg.f_max is None else cfg.f_max
    if cfg.scale == "mel":
        return mel_filterbank(
            cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, f_max, cfg.mel_scale, cfg.mel_norm
        )
    if cfg.scale == "log":
        return log_filterbank(cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, f_max, cfg.mel_norm)
    if cfg.scale == "erb":
        return erb_filterbank(
            cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, f_max,
            power=cfg.power if power is None else power,
        )  # fmt: skip
    raise ValueError(f"scale: {cfg.scale!r} has no filterbank matrix (linear keeps FFT bins)")


def count_empty(cfg: BandLayout, n_fft: int) -> int:
    """How many of the config's bands no FFT bin falls in at this n_fft (0 = every band is used).

    Triangles (mel, log) are empty when no bin has a positive weight (librosa's test); ERB bands
    when no bin lies in the half-power passband of the magnitude response, whatever `power` the
    spectrogram uses; the linear scale when [f_min, f_max] holds no bin at all.
    """
    if cfg.scale == "linear":
        first, stop = linear_bin_range(cfg.sample_rate, n_fft, cfg.f_min, cfg.f_max)
        return 0 if stop > first else 1
    if cfg.scale == "erb":
        return int((weights_for(cfg, n_fft, power=1.0).max(axis=1) <= ERB_EMPTY_BELOW).sum())
    return int((weights_for(cfg, n_fft).max(axis=1) <= 0.0).sum())
