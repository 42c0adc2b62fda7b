"""The species sheet: one clean song of each synthetic species as a spectrogram, in one PNG
(computed here, drawn by `reports.preview`).

    python -m runner.data.synthetic --sheet species.png
"""

from __future__ import annotations

import os

import numpy as np

from runner.data.synthetic._signals import n_samples
from runner.data.synthetic.species import SPECIES


def write_species_sheet(path: str | os.PathLike, sample_rate: int = 22050, seed: int = 0) -> None:
    """A PNG with one clean rendition of each species as a linear-frequency dB spectrogram
    (window 512, hop 128), so a person can see the classes and the confusable pairs. The
    spectrograms are computed here; `reports.preview` draws them."""
    import torch

    from reports.preview import species_sheet_figure  # matplotlib: loaded for the sheet only

    win, hop, span_s = 512, 128, 1.6
    n = n_samples(span_s, sample_rate)
    panels = []
    for sp in SPECIES:
        rng = np.random.default_rng(seed)
        song = sp.song(rng, sample_rate)
        x = np.zeros(n)
        x[: min(x.size, song.size)] = song[: x.size]
        spec = torch.stft(
            torch.from_numpy(x), win, hop, window=torch.hann_window(win, dtype=torch.float64),
            return_complex=True,
        ).abs().pow(2)  # fmt: skip
        db = 10 * np.log10(spec.numpy() + 1e-10)
        db = np.maximum(db, db.max() - 70)
        panels.append((f"{sp.name}\n{sp.description}", db))
    suptitle = (
        "specsweep synthetic species: one clean song each (linear frequency, window 512, hop 128, "
        f"{sample_rate} Hz; dotted lines at 1 and 8 kHz)"
    )
    fig = species_sheet_figure(panels, n / sample_rate, sample_rate / 2000, suptitle)
    fig.savefig(path, dpi=80)
