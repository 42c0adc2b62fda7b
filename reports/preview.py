"""A trial's preview: a few clips as the trained frontend sees them, one PNG.

    png = preview_png(images, titles, "db-mel-s0: frontend output")   # images (n_clips, C, H, W)

One row per clip, one column per channel; low frequencies at the bottom, time to the right, each
panel with its own colour range (frontends differ in value range; the shape of the image is what
matters). Built with the object API on an Agg canvas, never pyplot, like every figure here: safe
to call from a trial's process. The caller logs the bytes as the run's `preview.png`.
"""

from __future__ import annotations

import io

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
