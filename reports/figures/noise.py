"""Seed noise: every finished seed's MAP per configuration, against the pooled seed std.

fig = seed_noise(configs, eval_sets, {eval_set: seed_std(configs, eval_set)})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from reports.analysis import Configuration
from reports.figures._style import best_of, new_figure


def seed_noise(
    configs: Sequence[Configuration],
    eval_sets: Sequence[str],
    sigma: Mapping[str, float | None],
    max_rows: int = 30,
) -> Figure | None:
    """Seed-to-seed spread: every finished seed's MAP per configuration (dots) and the mean
    (bar), best at the top; the shaded band spans one pooled std below the best mean, so a
    configuration inside it cannot be told apart from the best by this sweep. None when no
    configuration has two seeds."""
    sets = [s for s in eval_sets if sigma.get(s) is not None]
    if not sets:
        return None
    first = sets[0]
    rows = sorted((c for c in configs if c.has(first)), key=lambda c: c.map_mean(first))
    shown = best_of(len(rows), max_rows)
    rows = rows[-max_rows:]
    fig = new_figure(4.2 * len(sets) + 3.8, 0.42 * len(rows) + 1.8)
    axes = fig.subplots(1, len(sets), sharey=True, squeeze=False)[0]
    for ax, eval_set in zip(axes, sets):
        sd = sigma[eval_set]
        best = max(c.map_mean(eval_set) for c in rows if c.has(eval_set))
        ax.axvspan(
            best - sd, best, color="#CFE8D6", zorder=0, label=f"within 1 std ({sd:.3f}) of the best"
        )
        for y, c in enumerate(rows):
            if not c.has(eval_set):
                continue
            values = np.asarray(c.map_by_seed[eval_set])
            ax.plot(
                values,
                np.full_like(values, y),
                "o",
                ms=6,
                color="#0072B2",
                alpha=0.75,
                mec="white",
                mew=0.5,
            )
            ax.plot([c.map_mean(eval_set)] * 2, [y - 0.3, y + 0.3], color="black", lw=2)
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.set_xlabel(f"MAP on {eval_set} (dots: seeds, bar: mean)")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    axes[0].set_yticks(range(len(rows)), [c.label for c in rows], fontsize=9)
    fig.suptitle(
        f"Seed noise: MAP of each seed per configuration, best at the top{shown}", fontsize=12
    )
    return fig
