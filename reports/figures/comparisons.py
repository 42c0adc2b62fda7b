"""Comparisons between configurations: MAP per frontend side by side, and the paired
differences per swept factor.

    fig = frontend_comparison(configs, swept_keys, eval_sets)   # None: compression not swept
    fig = factor_effects({eval_set: comparisons(...)}, swept_keys)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.analysis import Comparison, Configuration
from reports.figures._style import best_of, levels, new_figure, nth_colour
from reports.labels import key_name

# A factor-effects row's colour, by what its interval says.
_KIND_COLOURS = {"first": "#009E73", "second": "#D55E00", "unclear": "0.5"}


def frontend_comparison(
    configs: Sequence[Configuration],
    keys: Sequence[str],
    eval_sets: Sequence[str],
    key: str = "frontend.compression",
    max_rows: int = 30,
) -> Figure | None:
    """MAP per frontend on each evaluation set side by side (the Merlin study's test-vs-SWAMP figure):
    one row per configuration, sorted by MAP on the first set, a dot at the mean and ±1 std bars,
    coloured by `key`. None when the sweep does not vary `key`."""
    if key not in keys or not configs:
        return None
    sets = [s for s in eval_sets if any(c.has(s) for c in configs)]
    first = sets[0]
    rows = sorted(configs, key=lambda c: c.map_mean(first) if c.has(first) else -1.0)
    shown = best_of(len(rows), max_rows)
    rows = rows[-max_rows:]
    colours = {v: nth_colour(i) for i, v in enumerate(levels(configs, key))}

    fig = new_figure(4.2 * len(sets) + 3.5, 0.42 * len(rows) + 1.6)
    axes = fig.subplots(1, len(sets), sharey=True, squeeze=False)[0]
    for ax, eval_set in zip(axes, sets):
        for y, c in enumerate(rows):
            if not c.has(eval_set):
                continue
            mean, std = c.map_mean(eval_set), c.map_std(eval_set)
            ax.errorbar(
                mean, y, xerr=std, fmt="o", ms=8, capsize=3, color=colours[c.swept.get(key)]
            )
            ax.annotate(
                f"{mean:.3f}",
                (mean, y),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="0.3",
            )
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.set_xlabel(f"MAP on {eval_set}")
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15, y=0.06)
    axes[0].set_yticks(range(len(rows)), [c.label for c in rows])
    axes[0].set_ylabel(key_name(key, keys))
    n_seeds = max(len(c.seeds) for c in rows)
    spread = "dot = mean over seeds, bars ±1 std" if n_seeds > 1 else "one seed, no error bars"
    fig.suptitle(
        f"MAP per frontend ({key_name(key, keys)}), best at the top{shown}\n{spread}", fontsize=12
    )
    return fig


def factor_effects(
    comparisons: Mapping[str, Sequence[Comparison]], keys: Sequence[str]
) -> Figure | None:
    """Paired differences per factor: each row one factor's two levels (the winner on the first
    set first); dots = the paired differences (one per pair and seed), diamond = their mean,
    bar = its 95% t interval (with one seed: the range, in grey). A row is coloured only when
    its interval excludes 0. One panel per evaluation set."""
    sets = [s for s, comps in comparisons.items() if comps]
    if not sets:
        return None
    rows, row_of = _factor_rows(comparisons, sets)

    fig = new_figure(max(10.0, 4.6 * len(sets) + 3.8), 0.55 * len(rows) + 2.0)
    axes = fig.subplots(1, len(sets), sharey=True, squeeze=False)[0]
    kinds = set()
    for ax, eval_set in zip(axes, sets):
        ax.axvline(0, color="0.3", lw=1)
        for c in comparisons[eval_set]:
            y = len(rows) - 1 - row_of[(c.keys, frozenset((c.winner, c.loser)))]
            sign = 1.0 if c.winner == rows[len(rows) - 1 - y].winner else -1.0
            kinds.add(_draw_comparison(ax, c, y, sign))
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.set_xlabel("MAP difference, first − second")
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    _factor_legend(fig, kinds)
    labels = []
    for c in reversed(rows):
        win, lose = c.names(keys)
        labels.append(f"{win}\nvs {lose}")
    axes[0].set_yticks(range(len(rows)), labels, fontsize=9)
    axes[0].set_ylim(-0.6, len(rows) - 0.4)
    estimated = any(c.test.noise_estimated for comps in comparisons.values() for c in comps)
    fig.suptitle(
        "Factor effects: configurations that differ in one factor only, paired by seed\n"
        + (
            "diamond = mean difference, bar = 95% t interval, dots = (pair, seed) differences"
            if estimated
            else "one seed: diamond = mean difference, bar = range over the pairs"
        ),
        fontsize=12,
    )
    return fig


def _factor_rows(comparisons: Mapping[str, Sequence[Comparison]], sets: Sequence[str]):
    """The rows, in the first set's order, then any comparison only another set has; and each
    row's index by (keys, {the two levels})."""
    # Rows follow the first set; on the others, a row's sign is flipped to keep its orientation.
    rows: list[Comparison] = list(comparisons[sets[0]])
    row_of = {(c.keys, frozenset((c.winner, c.loser))): i for i, c in enumerate(rows)}
    for s in sets[1:]:
        for c in comparisons[s]:
            ident = (c.keys, frozenset((c.winner, c.loser)))
            if ident not in row_of:
                row_of[ident] = len(rows)
                rows.append(c)
    return rows, row_of


def _draw_comparison(ax, c: Comparison, y: float, sign: float) -> str:
    """One comparison's row at height `y` (differences times `sign`, so the row's first level
    is the one the row names first): its bar, dots, diamond and text. Returns its legend kind:
    "first", "second", "unclear" or "one_seed"."""
    diffs = sign * np.asarray(c.replicates)
    test = c.test
    mean = sign * test.mean
    if not test.noise_estimated:
        kind, colour, bar = "one_seed", "0.7", (diffs.min(), diffs.max())
    else:
        bar = tuple(sorted((sign * test.low, sign * test.high)))
        kind = ("first" if mean > 0 else "second") if test.significant else "unclear"
        colour = _KIND_COLOURS[kind]
    ax.plot(bar, [y, y], color=colour, lw=2.5, alpha=0.6, solid_capstyle="butt")
    ax.plot(diffs, np.full_like(diffs, y), "o", ms=4, color=colour, alpha=0.7)
    face = "white" if kind == "one_seed" else colour  # hollow: nothing was tested
    ax.plot(mean, y, "D", ms=9, color=colour, mfc=face, mec="black")
    wins = int((diffs > 0).sum())
    what = "comparisons" if test.noise_estimated else ("pair" if len(diffs) == 1 else "pairs")
    interval = f" [{bar[0]:+.3f}, {bar[1]:+.3f}]" if test.noise_estimated else ""
    ax.annotate(
        f"{mean:+.3f}{interval}  ({wins}/{len(diffs)} {what})",
        (mean, y),
        xytext=(0, 9),
        textcoords="offset points",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    return kind


def _factor_legend(fig, kinds: set[str]) -> None:
    """The legend below the panels: the kinds of row drawn, and what a dot is."""
    legend = {
        "first": ("#009E73", "first wins: 95% interval excludes 0"),
        "second": ("#D55E00", "second wins: 95% interval excludes 0"),
        "unclear": ("0.5", "no clear difference: interval includes 0"),
        "one_seed": ("0.7", "1 seed: noise not estimated (bar: range)"),
    }
    handles = [
        Line2D(
            [],
            [],
            ls="none",
            marker="D",
            ms=8,
            color=colour,
            mec="black",
            label=label,
            mfc="white" if kind == "one_seed" else colour,
        )
        for kind, (colour, label) in legend.items()
        if kind in kinds
    ]
    handles.append(Line2D([], [], ls="none", marker="o", ms=4, color="0.4", label="one difference"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
