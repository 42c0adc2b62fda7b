"""Frontend configuration: the `frontend:` section of a sweep file, as frozen dataclasses.

Every field has a default, so a sweep names only what it changes. Cross-field checks run in
`__post_init__` and raise `ValueError("<field>: <what is wrong>; <what to do>")`; the sweep loader
prefixes the file and section. `cfg.resolved()` fills in the automatic `n_fft`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Literal

from . import filterbanks
from ._names import PCEN_INITS, WINDOW_NAMES
from ._registry import list_compressions

# Automatic n_fft: try the window length, then powers of two above it, up to this size.
_MAX_AUTO_N_FFT = 1 << 15

MAX_CHANNELS = 3

MAX_SAMPLE_RATE = 384_000  # Hz: ultrasonic (bat) recorders; anything above is a typo


@dataclass(frozen=True)
class DbConfig:
    """`db`: log(max(S, floor)), the seed's "decibel" frontend."""

    floor: float = 1e-6

    def __post_init__(self) -> None:
        if not self.floor > 0:
            raise ValueError(
                f"db.floor: {self.floor} must be > 0 (log of 0 is -inf); use e.g. 1e-6"
            )


@dataclass(frozen=True)
class ExpConfig:
    """`exp`: S ** (1 / (1 + e^a)) (Schlüter 2018); `a` learnable, one global or one per band."""

    a: float = 0.0  # initial value; 0 gives S ** 0.5
    per_band: bool = False
    learnable: bool = True

    def __post_init__(self) -> None:
        if not math.isfinite(self.a):
            raise ValueError(f"exp.a: {self.a} is not finite; use a real number, e.g. 0.0")


@dataclass(frozen=True)
class PcenConfig:
    """`pcen`: per-channel energy normalisation (Wang et al. 2016), defaults as librosa/Wang.

    `(E / (eps + M)^gain + bias)^power - bias^power` with M the smoothed energy
    `M_t = smoothing * E_t + (1 - smoothing) M_{t-1}` (smoothing is per frame, so its time
    constant in seconds depends on hop_length). All five are learnable, global or per band;
    they are stored unconstrained (logit / log) so training cannot push them out of range.
    """

    init: Literal["loop", "first_frame", "librosa"] = "loop"
    smoothing: float = 0.025
    gain: float = 0.98
    bias: float = 2.0
    power: float = 0.5
    eps: float = 1e-6
    per_band: bool = False
    learnable: bool = True

    def __post_init__(self) -> None:
        if self.init not in PCEN_INITS:
            raise ValueError(
                f"pcen.init: unknown init {self.init!r}; use one of {list(PCEN_INITS)} "
                "(loop: no edge artifact; librosa: reproduces it)"
            )
        for name in ("smoothing", "gain", "power"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(
                    f"pcen.{name}: {value} is outside (0, 1); PCEN needs 0 < {name} < 1 "
                    f"(e.g. {getattr(PcenConfig, name)})"
                )
        for name in ("bias", "eps"):
            value = getattr(self, name)
            if not (value > 0.0 and math.isfinite(value)):
                raise ValueError(
                    f"pcen.{name}: {value} must be > 0 (e.g. {getattr(PcenConfig, name)})"
                )


@dataclass(frozen=True)
class FrontendConfig:
    """Waveform -> image: STFT, frequency scale, compression, normalisation, resize, channels.

    `n_mels` is the band count of every non-linear scale (mel, log, erb); `linear` keeps the FFT
    bins between f_min and f_max. `n_fft=None` means: the window length, padded to the smallest
    power of two that leaves no band empty (see `resolved()`).
    """

    sample_rate: int = 22050
    win_length: int = 512
    hop_length: int = 128
    n_fft: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: Literal["reflect", "constant"] = "reflect"  # reflect: no dark edge frames
    power: float = 2.0  # 2 = power spectrogram, 1 = magnitude
    scale: Literal["linear", "mel", "log", "erb"] = "mel"
    n_mels: int = 128
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney"] | None = "slaney"  # triangle area normalisation (mel and log)
    f_min: float = 0.0
    f_max: float | None = None  # None = sample_rate / 2
    compression: str | tuple[str, ...] = "db"
    repeat_channels: int = 1
    db: DbConfig = field(default_factory=DbConfig)
    exp: ExpConfig = field(default_factory=ExpConfig)
    pcen: PcenConfig = field(default_factory=PcenConfig)
    normalize_before: bool = True
    normalize_after: bool = True
    image_size: tuple[int, int] | None = None  # (H, W); None keeps (bands, frames)

    def __post_init__(self) -> None:
        # Python callers may pass lists and dicts where the sweep loader gives tuples and configs.
        for name, cls in (("db", DbConfig), ("exp", ExpConfig), ("pcen", PcenConfig)):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, cls(**getattr(self, name)))
        if isinstance(self.compression, list):
            object.__setattr__(self, "compression", tuple(self.compression))
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(self.image_size))
        self._check_stft()
        self._check_scale()
        self._check_channels()
        if self.image_size is not None and (
            len(self.image_size) != 2 or any(int(s) != s or s < 1 for s in self.image_size)
        ):
            raise ValueError(
                f"image_size: {self.image_size!r} is not (H, W) with positive integers; "
                "use e.g. [128, 512], or null to keep the spectrogram's size"
            )
        _resolve_n_fft(self)  # fail early: an empty-band n_fft is a config error, not a crash later

    def _check_stft(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate: {self.sample_rate} must be > 0 Hz, e.g. 22050")
        if self.sample_rate > MAX_SAMPLE_RATE:
            raise ValueError(
                f"sample_rate: {self.sample_rate:,} Hz is over {MAX_SAMPLE_RATE:,} Hz, the fastest "
                "audio recorders sample at; use the recordings' rate, e.g. 22050 or 48000"
            )
        if self.win_length < 2:
            raise ValueError(f"win_length: {self.win_length} samples is too short; use e.g. 512")
        if self.hop_length < 1:
            raise ValueError(f"hop_length: {self.hop_length} must be >= 1 sample, e.g. 128")
        if self.hop_length > self.win_length:
            raise ValueError(
                f"hop_length: {self.hop_length} is larger than win_length {self.win_length}; "
                "use a hop <= the window (samples between windows would be ignored)"
            )
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise ValueError(
                f"n_fft: {self.n_fft} is smaller than win_length {self.win_length}; use "
                f"n_fft >= {self.win_length} (or leave it unset to choose it automatically)"
            )
        if self.window not in WINDOW_NAMES:
            raise ValueError(
                f"window: unknown window {self.window!r}; use one of {sorted(WINDOW_NAMES)}"
            )
        if not self.power > 0:
            raise ValueError(f"power: {self.power} must be > 0 (2 = power, 1 = magnitude)")

    def _check_scale(self) -> None:
        nyquist = self.sample_rate / 2
        if self.n_mels < 1:
            raise ValueError(f"n_mels: {self.n_mels} must be >= 1, e.g. 128")
        if not 0.0 <= self.f_min < nyquist:
            raise ValueError(
                f"f_min: {self.f_min} Hz must be in [0, {nyquist}) (the Nyquist frequency)"
            )
        if self.f_max is not None and not self.f_min < self.f_max <= nyquist:
            raise ValueError(
                f"f_max: {self.f_max} Hz must be above f_min {self.f_min} and at most the Nyquist "
                f"frequency {nyquist} (sample_rate / 2); or null for {nyquist}"
            )
        if self.scale == "log" and self.f_min <= 0:
            raise ValueError(
                "f_min: the log scale needs f_min > 0 Hz (log-spaced bands cannot start at 0 Hz); "
                "set e.g. frontend.f_min: 100"
            )

    def _check_channels(self) -> None:
        names = (self.compression,) if isinstance(self.compression, str) else self.compression
        if not 1 <= len(names) <= MAX_CHANNELS:
            raise ValueError(
                f"compression: {list(names)} has {len(names)} entries; give one name or a list of "
                f"1 to {MAX_CHANNELS} (one channel each)"
            )
        known = list_compressions()
        for name in names:
            if name not in known:
                raise ValueError(f"compression: unknown compression {name!r}; use one of {known}")
        if not 1 <= self.repeat_channels <= MAX_CHANNELS:
            raise ValueError(f"repeat_channels: {self.repeat_channels} must be 1 to {MAX_CHANNELS}")
        if not isinstance(self.compression, str) and self.repeat_channels != 1:
            raise ValueError(
                f"repeat_channels: {self.repeat_channels} only applies when compression is one name; "
                f"with a list ({list(names)}) each entry is one channel, so set repeat_channels: 1"
            )

    @property
    def channel_compressions(self) -> tuple[str, ...]:
        """The compression feeding each output channel, e.g. ("db", "db", "db") or ("db", "pcen")."""
        if isinstance(self.compression, str):
            return (self.compression,) * self.repeat_channels
        return tuple(self.compression)

    @property
    def out_channels(self) -> int:
        return len(self.channel_compressions)

    def resolved(self) -> FrontendConfig:
        """This config with `n_fft` filled in (idempotent): what a run must record to be reproduced."""
        n_fft = _resolve_n_fft(self)
        return self if n_fft == self.n_fft else replace(self, n_fft=n_fft)


def _auto_n_fft_candidates(win_length: int) -> list[int]:
    """The window length itself, then every power of two above it up to the cap."""
    candidates = [win_length]
    size = 1 << math.ceil(math.log2(win_length))
    if size == win_length:
        size *= 2
    while size <= max(_MAX_AUTO_N_FFT, win_length):
        candidates.append(size)
        size *= 2
    return candidates


def _count_empty(cfg: FrontendConfig, n_fft: int) -> int:
    return filterbanks.count_empty(cfg, n_fft)


@functools.lru_cache(maxsize=256)
def _resolve_n_fft(cfg: FrontendConfig) -> int:
    """The n_fft a frontend uses; a ValueError if it leaves bands empty. Cached: configs are frozen."""
    if cfg.n_fft is not None:
        empty = _count_empty(cfg, cfg.n_fft)
        if empty == 0:
            return cfg.n_fft
        larger = [n for n in _auto_n_fft_candidates(cfg.n_fft)[1:] if _count_empty(cfg, n) == 0]
        fix = (
            f"use n_fft: {larger[0]} (or leave n_fft unset to choose it automatically)"
            if larger
            else "no n_fft up to 32768 helps"
        )
        raise ValueError(
            f"n_fft: {cfg.n_fft} leaves {empty} of {cfg.n_mels} {cfg.scale} bands empty (no FFT bin "
            f"inside them, so they would always be 0); {fix}, or use fewer bands (n_mels) or a higher f_min"
        )
    for n_fft in _auto_n_fft_candidates(cfg.win_length):
        if _count_empty(cfg, n_fft) == 0:
            return n_fft
    f_max = cfg.f_max if cfg.f_max is not None else cfg.sample_rate / 2
    raise ValueError(
        f"n_mels: {cfg.n_mels} {cfg.scale} bands between {cfg.f_min} and {f_max} Hz leave some bands "
        f"empty even with n_fft={_MAX_AUTO_N_FFT}; use fewer bands (n_mels) or a higher f_min"
    )
