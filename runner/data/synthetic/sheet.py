"""The species sheet: one clean song of each synthetic species as a spectrogram, in one PNG.

python -m runner.data.synthetic --sheet species.png
"""

from __future__ import annotations

import os

import numpy as np

from runner.data.synthetic._signals import n_samples
from runner.data.synthetic.species import SPECIES


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
        x = np.zeros(n_samples(span_s, sample_rate))
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
