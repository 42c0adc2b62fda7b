"""What the learnable compressions learned: each parameter against band centre frequency.

fig = learned_parameters([(configuration label, seed, frontend_params.json content), ...])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.figures._style import new_figure, nth_colour


def learned_parameters(
    learned: Sequence[tuple[str, int, Mapping[str, Any]]], max_configs: int = 8
) -> Figure | None:
    """What the learnable compressions learned: one panel per (compression, parameter), the value
    against band centre frequency, one line per trial (colour = configuration; a global value is
    a flat line), the initial value dashed. `learned` holds `(configuration label, seed,
    frontend_params.json content)`. None when no trial logged any."""
    learned = [x for x in learned if x[2].get("compressions")]
    if not learned:
        return None
    labels = list(dict.fromkeys(label for label, _, _ in learned))[:max_configs]
    colours = {label: nth_colour(i) for i, label in enumerate(labels)}
    panels: dict[tuple[str, str], float | None] = {}
    for _, _, summary in learned:
        for name, entry in summary["compressions"].items():
            for param in entry["values"]:
                panels.setdefault((name, param), entry.get("initial", {}).get(param))
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(4.3 * ncols + 2.6, 3.0 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    for ax, ((name, param), initial) in zip(axes.flat, panels.items()):
        lo, hi = np.inf, -np.inf
        y_lo, y_hi = np.inf, -np.inf
        for label, _seed, summary in learned:
            if label not in colours:
                continue
            entry = summary["compressions"].get(name)
            if entry is None or param not in entry["values"]:
                continue
            values = np.asarray(entry["values"][param], dtype=float)
            band_khz = np.asarray(summary["band_hz"], dtype=float) / 1000.0
            lo, hi = min(lo, band_khz[0]), max(hi, band_khz[-1])
            if values.size == 1:
                values = np.full(band_khz.size, values[0])
            y_lo, y_hi = min(y_lo, values.min()), max(y_hi, values.max())
            ax.plot(band_khz, values, color=colours[label], lw=1.2, alpha=0.75)
        if initial is not None and np.isfinite(lo):
            ax.plot([lo, hi], [initial, initial], color="black", ls="--", lw=1)
        if initial is not None:
            y_lo, y_hi = min(y_lo, initial), max(y_hi, initial)
        if y_lo > 0 and y_hi / y_lo > 10:  # a parameter that moved by decades
            ax.set_yscale("log")
        ax.set_title(f"{name}: {param}", fontsize=10)
        ax.set_xlabel("band centre frequency (kHz)")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=colours[label], lw=2, label=label) for label in labels]
    handles.append(Line2D([], [], color="black", ls="--", lw=1, label="initial value"))
    fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=9)
    fig.suptitle(
        "Learned frontend parameters after training: one line per trial (seed), "
        "flat where the value is global",
        fontsize=11,
    )
    return fig
