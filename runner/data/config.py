"""The `data` section of a sweep: which audio, which labels, which splits, how clips are cut.

Every field has a default, so `data: {}` in a sweep means the built-in synthetic bird dataset.
Cross-field checks live in `__post_init__` and raise `ValueError("<field>: <problem>; <fix>")`;
the sweep loader prefixes the file and section (`sweeps/x.yaml: data.clip_s: ...`).

    data:
      kind: manifest
      manifest: data/birds.csv        # relative to the working directory
      clip_s: 3.0
      on_bad_audio: skip              # skip and count bad files instead of stopping
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

# The synthetic generator has this many distinct, hand-designed song recipes
# (`runner.data.synthetic.species`).
N_SONG_RECIPES = 16
# The `hard` preset plays every recipe at these pitch factors (frequencies x factor, tempo x
# factor; three semitones apart, wider than the whistle pair's one): up to 16 x 6 = 96 classes.
HARD_PITCH_FACTORS = (1.0, 0.84, 0.71, 0.6, 0.5, 0.42)
N_HARD_SPECIES = N_SONG_RECIPES * len(HARD_PITCH_FACTORS)

# What each preset sets when the field is left out (None).
PRESETS = {
    "default": dict(n_species=N_SONG_RECIPES, n_train=640, n_test=192, n_field=192),
    # Like a small real field-recording set: 88 classes with 2-14 training clips each (median
    # about 8), 1.9 labels per clip and 11% clips without a bird (measured on seed 0), files of
    # 1 s to the clip length, calls at -5 to +10 dB over noise, wind, insects and 1-3
    # distractors, no field split.
    "hard": dict(n_species=88, n_train=360, n_test=160, n_field=0),
}


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}: {value!r} must be a positive number")


@dataclass(frozen=True)
class RavenConfig:
    """Raven Pro selection tables (tab-separated, one row per box), used when `kind: raven`.

    `tables` is a folder (searched recursively for `*.txt`) or a glob of tables. Each table
    either has a `Begin File` column naming the audio file of each row, or is named after one
    recording the way Raven saves it (`<recording>.Table.1.selections.txt`). Audio files are
    looked up in `audio_dir` (default: the table's own folder).

    Long recordings become windows of `clip_s` every `hop_s` seconds (default: `clip_s`, no
    overlap); a window is labelled with every species whose box overlaps it by at least
    `min_overlap_s` (or by the box's whole duration, for boxes shorter than that).
    """

    tables: str | None = None
    audio_dir: str | None = None
    species_column: str = "Species"
    hop_s: float | None = None
    min_overlap_s: float = 0.5
    # A column giving each recording's split (e.g. "Split" with train/test); None = K-fold.
    split_column: str | None = None

    def __post_init__(self) -> None:
        if self.hop_s is not None:
            _positive("hop_s", self.hop_s)
        if not (math.isfinite(self.min_overlap_s) and self.min_overlap_s >= 0):
            raise ValueError(
                f"min_overlap_s: {self.min_overlap_s!r} must be >= 0 seconds "
                "(0 labels a window with every box that touches it)"
            )
        if not self.species_column.strip():
            raise ValueError("species_column: empty; name the table column holding the species")


@dataclass(frozen=True)
class KFoldConfig:
    """K-fold assignment, used when the data has one pool (no `split` column) or a `fold` column.

    The pool is cut into `k` folds by seeded multi-label iterative stratification over whole
    recordings (clips of one file never straddle two folds). Fold number `fold` becomes the
    split named `test`; the other folds together are `train`. `seed` is the data's own seed:
    a sweep's `seeds` vary the training, not the split.
    """

    k: int = 5
    fold: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int) and self.k >= 2):
            raise ValueError(f"k: {self.k!r} must be an integer >= 2")
        if not (isinstance(self.fold, int) and 0 <= self.fold < self.k):
            raise ValueError(f"fold: {self.fold!r} must be in 0..{self.k - 1} (k is {self.k})")


@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in synthetic bird-soundscape dataset (`kind: synthetic`, the default).

    Generated once into `<output_dir>/synthetic-<hash of these settings>/` as FLAC or WAV files
    plus a native `manifest.csv`, then reused. `train` and `test` are recorded at curated SNR;
    `field` is low SNR, distance filtered and reverberant (like the Merlin study's SWAMP set).
    The defaults generate in about 20 s on 2 cores.

    `preset: hard` is a regime where the Merlin study's recipe fails the way it does on small real
    field-recording sets (it learns the base rates and stops): 88 classes (each of the 16 song
    recipes at 6 pitches, up to 96), 360 training clips (2-14 per class, median about 8), 0-3
    calls per clip (1.9 on average, 11% without a bird), files of 1 s to `duration_s` (zero-padded to the clip),
    calls at -5 to +10 dB, 1-3 distractors per clip, no `field` split. `n_species`, `n_train`,
    `n_test` and `n_field` left out take the preset's values (PRESETS).
    """

    preset: Literal["default", "hard"] = "default"
    n_species: int | None = None  # None = the preset's (16 default, 88 hard)
    sample_rate: int = 22050
    duration_s: float | None = None  # length of each file; None = the data section's clip_s
    n_train: int | None = None  # None = the preset's (640 default, 360 hard)
    n_test: int | None = None  # (192, 160)
    n_field: int | None = None  # (192, 0)
    max_species_per_clip: int = 3
    seed: int = 0
    format: Literal["flac", "wav"] = "flac"
    output_dir: str = ".specsweep/data"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset: {self.preset!r} is not one of {', '.join(PRESETS)}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)  # frozen: resolved once, here
        most = N_HARD_SPECIES if self.preset == "hard" else N_SONG_RECIPES
        if not (isinstance(self.n_species, int) and 2 <= self.n_species <= most):
            raise ValueError(
                f"n_species: {self.n_species!r} is outside 2..{most}; the generator has "
                + (
                    f"{N_SONG_RECIPES} song recipes x {len(HARD_PITCH_FACTORS)} pitches"
                    if self.preset == "hard"
                    else f"{N_SONG_RECIPES} distinct song recipes (preset: hard has {N_HARD_SPECIES})"
                )
            )
        if not (isinstance(self.sample_rate, int) and self.sample_rate >= 22050):
            raise ValueError(
                f"sample_rate: {self.sample_rate!r} must be an integer >= 22050 Hz "
                "(the songs reach 10 kHz)"
            )
        if self.duration_s is not None:
            _positive("duration_s", self.duration_s)
            if self.duration_s < 1.0:
                raise ValueError(
                    f"duration_s: {self.duration_s} s is too short for a song; use >= 1"
                )
        for name in ("n_train", "n_test", "n_field"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{name}: {value!r} must be an integer >= 0")
        if self.n_train < self.n_species:
            raise ValueError(
                f"n_train: {self.n_train} clips cannot hold one example of each of "
                f"{self.n_species} species; use n_train >= {self.n_species} (and a few times "
                "that for a model to learn anything)"
            )
        if not (isinstance(self.max_species_per_clip, int) and 1 <= self.max_species_per_clip <= 3):
            raise ValueError(
                f"max_species_per_clip: {self.max_species_per_clip!r} must be 1, 2 or 3"
            )


@dataclass(frozen=True)
class DataConfig:
    """Where the audio and labels come from, and how they are cut into clips.

    kind: `synthetic` (generated, the default), `manifest` (a CSV, the native format: columns
        `path`, `labels`, optional `start_s`/`end_s`, optional `split` or `fold`), or `raven`
        (Raven Pro selection tables, see `RavenConfig`).
    classes: the class list; None = the sorted union of all labels. With a list, a label
        outside it is an error (or skipped and counted under `on_bad_audio: skip`).
    train_split: the split trained on; the evaluation sets are named by the `eval` section.
    clip_s: the clip length fed to the frontend, seconds.
    eval_hop_s: hop between fixed evaluation windows in longer segments; None = clip_s.
    normalize: per-clip waveform normalisation: `none`, `peak` (max |x| = 1) or `rms`
        (RMS = 0.1, i.e. -20 dBFS).
    on_bad_audio: `error` stops at the first bad item, naming the file and row; `skip`
        leaves it out and counts it by reason (`Datasets.skipped`, logged to MLflow).
    cache_dir: the decoded-audio cache, shared by every trial and every later sweep.
    """

    kind: Literal["synthetic", "manifest", "raven"] = "synthetic"
    manifest: str | None = None
    raven: RavenConfig = field(default_factory=RavenConfig)
    classes: tuple[str, ...] | None = None
    train_split: str = "train"
    kfold: KFoldConfig = field(default_factory=KFoldConfig)
    clip_s: float = 3.0
    eval_hop_s: float | None = None
    normalize: Literal["none", "peak", "rms"] = "none"
    on_bad_audio: Literal["error", "skip"] = "error"
    cache_dir: str = ".specsweep/cache"
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def __post_init__(self) -> None:
        if self.kind not in ("synthetic", "manifest", "raven"):
            raise ValueError(f"kind: {self.kind!r} is not one of synthetic, manifest, raven")
        if self.kind == "manifest" and not self.manifest:
            raise ValueError(
                "manifest: kind is 'manifest' but no manifest CSV is given; set data.manifest"
            )
        if self.kind == "raven" and not self.raven.tables:
            raise ValueError(
                "raven: kind is 'raven' but raven.tables is not set; give a folder or glob of "
                "selection tables"
            )
        _positive("clip_s", self.clip_s)
        if self.eval_hop_s is not None:
            _positive("eval_hop_s", self.eval_hop_s)
        if self.normalize not in ("none", "peak", "rms"):
            raise ValueError(f"normalize: {self.normalize!r} is not one of none, peak, rms")
        if self.on_bad_audio not in ("error", "skip"):
            raise ValueError(f"on_bad_audio: {self.on_bad_audio!r} is not one of error, skip")
        if self.classes is not None:
            if len(self.classes) == 0:
                raise ValueError("classes: empty list; leave it out to use every label in the data")
            seen = set()
            for name in self.classes:
                if not isinstance(name, str) or not name.strip() or ";" in name:
                    raise ValueError(
                        f"classes: {name!r} is not a usable class name (non-empty, no ';')"
                    )
                if name in seen:
                    raise ValueError(f"classes: {name!r} is listed twice")
                seen.add(name)
        if not self.train_split.strip():
            raise ValueError("train_split: empty; name the split to train on (e.g. train)")
        if not self.cache_dir.strip():
            raise ValueError("cache_dir: empty; use e.g. .specsweep/cache")

    @property
    def synthetic_duration_s(self) -> float:
        """Length of each generated synthetic file, seconds."""
        return self.synthetic.duration_s if self.synthetic.duration_s is not None else self.clip_s
