"""The 16 synthetic species: one deterministic song recipe each, and the hard preset's variants.

Each species is a song recipe (with small per-rendition jitter in pitch and tempo) built from the
call types of the Merlin study: tonal whistles, sweeps, trills, harmonic stacks, a hummingbird-like buzz,
chips and warbles, all between 0.5 and 10 kHz. Some classes are confusable on purpose, so that
spectrogram settings matter:

- `whistle_lo` / `whistle_hi`: the same whistle a semitone apart (3.0 vs 3.18 kHz): frequency
  resolution (window length, mel or not) decides;
- `trill_slow` / `trill_fast`: the same note repeated at 14 vs 35 Hz: time resolution (hop,
  window) decides;
- `high_seee` sings above 8 kHz, where mel bands are wide; `low_hoot` below 1 kHz.

The hard preset (`preset: hard`) cycles through the recipes at each of `HARD_PITCH_FACTORS` in
turn, so a class is a recipe at one pitch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runner.data.config import HARD_PITCH_FACTORS, SyntheticConfig
from runner.data.synthetic._signals import band_noise, glide, jitter, n_samples, ramp, series, tone

Song = Callable[[np.random.Generator, int], np.ndarray]


# ---- the 16 species -------------------------------------------------------------------------
# Pitch jitter is kept at +-1 % for the semitone pair (a semitone is 5.9 %), trill-rate jitter at
# +-8 % for the 14/35 Hz pair, so the pairs stay separable by resolution, not by chance.


def _whistle(base_hz: float) -> Song:
    def song(rng, sr):
        f = base_hz * jitter(rng, 0.01)
        d = 0.35 * jitter(rng, 0.1)
        note = tone(np.full(n_samples(d, sr), f), sr) * ramp(n_samples(d, sr), sr, 0.02, 0.04)
        return series([(0.0, note), (d + 0.15, note)], sr)

    return song


def _trill(rate_hz: float) -> Song:
    def song(rng, sr):
        rate = rate_hz * jitter(rng, 0.08)
        p = jitter(rng, 0.02)
        note = glide(4400 * p, 3900 * p, 0.014, sr)
        return series([(k / rate, note) for k in range(int(1.1 * rate))], sr)

    return song


def _high_seee(rng, sr):
    p = jitter(rng, 0.02)
    return glide(8600 * p, 9300 * p, 0.6 * jitter(rng, 0.1), sr)


def _low_hoot(rng, sr):
    p = jitter(rng, 0.03)
    hoot = glide(640 * p, 560 * p, 0.28, sr)
    return series([(k * 0.45, hoot) for k in range(3)], sr)


def _sweep(f0_hz: float, f1_hz: float) -> Song:
    def song(rng, sr):
        p, d = jitter(rng, 0.03), 0.25 * jitter(rng, 0.1)
        note = glide(f0_hz * p, f1_hz * p, d, sr)
        return series([(0.0, note), (d + 0.2, note)], sr)

    return song


def stack(f0_hz: float, harmonics: int, note_s: float, n_notes: int, gap_s: float) -> Song:
    """`n_notes` harmonic stacks (f0 and its harmonics at 1/h amplitude), `gap_s` apart; the
    frog and dog distractors are stacks too."""

    def song(rng, sr):
        f0 = f0_hz * jitter(rng, 0.03)
        n = n_samples(note_s, sr)
        note = sum(tone(np.full(n, h * f0), sr) / h for h in range(1, harmonics + 1))
        note = note * ramp(n, sr, 0.015, 0.03)
        return series([(k * (note_s + gap_s), note) for k in range(n_notes)], sr)

    return song


def _buzz(rng, sr):
    """A hummingbird-like buzz: a 3-7 kHz noise band amplitude-modulated at 45-65 Hz."""
    n = n_samples(0.7 * jitter(rng, 0.1), sr)
    am = 0.5 + 0.5 * np.sin(2 * np.pi * 55 * jitter(rng, 0.15) * np.arange(n) / sr)
    return band_noise(rng, n, sr, 3000, 7000) * am * ramp(n, sr, 0.02, 0.05) * 0.5


def _chips(rng, sr):
    chip = glide(7000, 5000, 0.012, sr)
    t, notes = 0.0, []
    for _ in range(int(rng.integers(4, 8))):
        notes.append((t, chip * jitter(rng, 0.2)))
        t += rng.uniform(0.08, 0.2)
    return series(notes, sr)


def _warble(rng, sr):
    n = n_samples(0.9 * jitter(rng, 0.1), sr)
    t = np.arange(n) / sr
    f = 3800 * jitter(rng, 0.03) + 700 * np.sin(2 * np.pi * 9 * jitter(rng, 0.1) * t)
    return tone(f, sr) * ramp(n, sr, 0.02, 0.05)


def _two_note(rng, sr):
    p = jitter(rng, 0.02)
    return series(
        [(0.0, glide(4200 * p, 4200 * p, 0.3, sr)), (0.38, glide(3600 * p, 3550 * p, 0.35, sr))],
        sr,
    )


def _rattle(rng, sr):
    """A dry rattle: 6 ms broadband noise bursts (2-8 kHz) at 22 Hz."""
    rate = 22 * jitter(rng, 0.08)
    burst_n = n_samples(0.006, sr)
    notes = [
        (
            k / rate,
            band_noise(rng, burst_n, sr, 2000, 8000) * 0.4 * ramp(burst_n, sr, 0.001, 0.002),
        )
        for k in range(int(0.8 * rate))
    ]
    return series(notes, sr)


def _bouncing_ball(rng, sr):
    """Short downslurred notes at ever shorter intervals (an accelerating series)."""
    p = jitter(rng, 0.02)
    note = glide(5200 * p, 4700 * p, 0.03, sr)
    t, gap, notes = 0.0, 0.22 * jitter(rng, 0.1), []
    for _ in range(9):
        notes.append((t, note))
        t, gap = t + gap, gap * 0.8
    return series(notes, sr)


@dataclass(frozen=True)
class Species:
    """One class of the synthetic set: its name, a one-line description and its song recipe."""

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
    Species("harmonic_stack", "harmonic stack, f0 900 Hz x6", stack(900.0, 6, 0.5, 1, 0.0)),
    Species("buzz", "3-7 kHz buzz, AM at 55 Hz", _buzz),
    Species("chips", "4-7 short chips, 7-5 kHz", _chips),
    Species("warble", "warble, 3.8 kHz FM +-0.7 kHz at 9 Hz", _warble),
    Species("two_note", "fee-bee: 4.2 kHz then 3.6 kHz", _two_note),
    Species("nasal_yank", "3 nasal notes, f0 1.4 kHz x4", stack(1400.0, 4, 0.12, 3, 0.13)),
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


def sing(cfg: SyntheticConfig, index: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One rendition of class `index`. A pitch factor p is applied by rendering the recipe at
    sample rate sr / p and playing it at sr: every frequency x p, every duration / p."""
    if cfg.preset != "hard":
        return SPECIES[index].song(rng, sr)
    _, recipe, factor = _hard_species(index)
    return recipe.song(rng, sr / factor)


def describe(cfg: SyntheticConfig, index: int) -> str:
    """One line describing class `index` (species.json)."""
    if cfg.preset != "hard":
        return SPECIES[index].description
    _, recipe, factor = _hard_species(index)
    return f"{recipe.description}, every frequency x {factor}"
