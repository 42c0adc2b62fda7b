"""Pictures of sound for a person to look at: a trial's preview and the synthetic species sheet.

    png = preview_png(images, titles, "db-mel-s0: frontend output")   # images (n_clips, C, H, W)
    species_sheet_figure(panels, duration_s=1.6, top_khz=11.025, suptitle=...).savefig(path, dpi=80)

The preview: a few clips as the trained frontend sees them, one row per clip, one column per
channel; low frequencies at the bottom, time to the right, each panel with its own colour range
(frontends differ in value range; the shape of the image is what matters). The caller logs the
bytes as the run's `preview.png`. The species sheet: one dB spectrogram per species, computed by
the caller. Both are built with the object API on an Agg canvas, never pyplot, like every figure
here: safe to call from any process.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110


def preview_figure(images: np.ndarray, titles: list[str], suptitle: str | None = None) -> Figure:
    """`images (n_clips, channels, H, W)` as a Figure: one row per clip, one column per channel,
    `titles[i]` over clip i's panels."""
    n_clips, n_channels, height, width = images.shape
    aspect = width / height
    fig = Figure(figsize=(min(14, 2.2 * aspect * n_channels + 1), 2.2 * n_clips + 0.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_clips, n_channels, squeeze=False)
    for i in range(n_clips):
        for c in range(n_channels):
            ax = axes[i, c]
            im = ax.imshow(images[i, c], origin="lower", aspect="auto", cmap="magma")
            ax.set_title(titles[i] + (f" (channel {c})" if n_channels > 1 else ""), fontsize=8)
            ax.set_ylabel("band", fontsize=7)
            ax.tick_params(labelsize=6)
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01).ax.tick_params(labelsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("frame", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def preview_png(images: np.ndarray, titles: list[str], suptitle: str | None = None) -> bytes:
    """The PNG bytes of `preview_figure` at `DPI`."""
    buffer = io.BytesIO()
    preview_figure(images, titles, suptitle).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def species_sheet_figure(
    panels: Sequence[tuple[str, np.ndarray]], duration_s: float, top_khz: float, suptitle: str
) -> Figure:
    """A 4 x 4 grid, one panel per `(title, dB spectrogram (freq, time))`: frequency 0 to
    `top_khz` kHz up, time 0 to `duration_s` s across, dotted lines at 1 and 8 kHz."""
    fig = Figure(figsize=(16, 13))
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 4, sharex=True, sharey=True)
    for ax, (title, db) in zip(axes.flat, panels):
        ax.imshow(
            db, origin="lower", aspect="auto", cmap="magma", extent=(0, duration_s, 0, top_khz)
        )
        ax.set_title(title, fontsize=10)
        ax.axhline(8.0, color="white", lw=0.5, ls=":")
        ax.axhline(1.0, color="white", lw=0.5, ls=":")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel("frequency (kHz)")
    fig.suptitle(suptitle, fontsize=12)
    fig.tight_layout()
    return fig
