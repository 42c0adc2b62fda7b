"""The built-in synthetic bird-soundscape dataset: 16 species whose differences the grid probes.

Owns the species' song recipes (`species`, built from `_signals`), rendering one soundscape clip
(`clip`), writing the dataset once as audio files plus a native `manifest.csv` under a folder
named by its settings (`dataset`), the species sheet's spectrograms (`sheet`; `reports.preview`
draws them), long recordings for trying `specsweep predict` (`recordings`) and
`python -m runner.data.synthetic` (`cli`). It never reads the dataset back (that is
`runner.data.datasets`, through the same loader as user data), never draws and never trains.

    python -m runner.data.synthetic                       # generate the default set, print its path
    python -m runner.data.synthetic --sheet species.png   # one spectrogram per species
"""

from runner.data.synthetic.cli import main
from runner.data.synthetic.clip import SPLITS, render_clip
from runner.data.synthetic.dataset import (
    GENERATOR_VERSION,
    dataset_dir,
    ensure_synthetic,
    generate,
    settings_hash,
)
from runner.data.synthetic.recordings import render_recording, write_recordings
from runner.data.synthetic.sheet import write_species_sheet
from runner.data.synthetic.species import SPECIES, Song, Species, species_names

__all__ = [
    "GENERATOR_VERSION",
    "SPECIES",
    "SPLITS",
    "Song",
    "Species",
    "dataset_dir",
    "ensure_synthetic",
    "generate",
    "main",
    "render_clip",
    "render_recording",
    "settings_hash",
    "species_names",
    "write_recordings",
    "write_species_sheet",
]
