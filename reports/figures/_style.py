"""The figures' shared drawing plumbing: an Agg Figure, the palette and markers, and the rules
for which swept setting gets colour and which gets the marker.

Private to `reports.figures`: each figure module draws with these, so every figure has the same
resolution, colours and encodings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.analysis import Configuration
from reports.labels import sort_key

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# Colour-blind-safe (Okabe–Ito), then matplotlib's tab20 for long lists.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
DPI = 110  # figures are drawn and saved at this resolution

SET_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")

# The settings the figures encode first, when the sweep varies them (the Merlin study's Part 1 figure:
# colour = frequency scale, marker = window; Part 2: colour = compression).
COLOUR_KEYS = ("frontend.scale", "frontend.compression")
MARKER_KEYS = ("frontend.win_length",)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure on an Agg canvas (no pyplot, no display), constrained layout, at `DPI`."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def encoding(keys: Sequence[str]) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Which swept key sets colour, which sets the marker, and which go into point labels."""
    keys = tuple(keys)
    colour = next((k for k in COLOUR_KEYS if k in keys), keys[0] if keys else None)
    rest = [k for k in keys if k != colour]
    marker = next((k for k in MARKER_KEYS if k in rest), rest[0] if rest else None)
    return colour, marker, tuple(k for k in rest if k != marker)


def levels(configs: Sequence[Configuration], key: str | None) -> list[Any]:
    """The values `key` takes over `configs`, in sweep order ([None] when there is no key)."""
    if key is None:
        return [None]
    return sorted({c.swept.get(key) for c in configs}, key=sort_key)


def nth_colour(i: int) -> str:
    """The i-th colour of the palette, then matplotlib's tab20 past its end."""
    if i < len(COLOURS):
        return COLOURS[i]
    import matplotlib

    return matplotlib.colormaps["tab20"](i % 20)


def best_of(n: int, max_rows: int) -> str:
    """Title suffix when a ranked figure shows only the best `max_rows` of `n` rows."""
    return f" (the best {max_rows} of {n})" if n > max_rows else ""
