"""MAP against what a configuration costs: training time (left) beside CPU inference latency per
clip (right, batch 1, one thread: the phone proxy), one point per configuration, each panel with
its Pareto front. None when no configuration has its inference cost measured.

    fig = map_vs_cost(configs, eval_sets)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from matplotlib.figure import Figure

from reports.analysis import Configuration
from reports.cost import LATENCY
from reports.figures._style import new_figure, nth_colour
from reports.figures.map_time import place_labels, time_unit

MAX_LABELS = 8  # past this many points only the Pareto front is named (long labels overlap)


def map_vs_cost(configs: Sequence[Configuration], eval_sets: Sequence[str]) -> Figure | None:
    eval_set = next((s for s in eval_sets if any(c.has(s) and c.cost for c in configs)), None)
    if eval_set is None:
        return None
    shown = [c for c in configs if c.has(eval_set) and c.cost]
    unit, per = time_unit([c.train_time_s for c in shown])
    fig = new_figure(12.4, 5.2)
    left, right = fig.subplots(1, 2, sharey=True)
    panels = (
        (left, lambda c: c.train_time_s / per, f"training time ({unit})"),
        (right, lambda c: c.cost[LATENCY], "CPU latency per clip (ms; batch 1, one thread)"),
    )
    named = []
    for ax, x_of, xlabel in panels:
        named.append(_panel(ax, shown, eval_set, x_of))
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.12)
        ax.set_xlim(left=0)  # from zero: near-equal costs look near-equal, ratios read true
    left.set_ylabel(f"MAP on {eval_set} (mean over seeds)")
    left.set_title("the cost of training", fontsize=11)
    right.set_title("the cost of every later prediction", fontsize=11)
    fig.suptitle(
        "MAP vs cost: up and left is better; dashed: the Pareto front (black edge)", fontsize=12
    )
    # Labels last: their placement needs the final layout.
    for (ax, x_of, _), only in zip(panels, named):
        _label(ax, shown, eval_set, x_of, only)
    return fig


def _front(shown: Sequence[Configuration], eval_set: str, x_of: Callable) -> list[Configuration]:
    front, best = [], float("-inf")
    for c in sorted(shown, key=lambda c: (x_of(c), -c.map_mean(eval_set))):
        if c.map_mean(eval_set) > best:
            front.append(c)
            best = c.map_mean(eval_set)
    return front


def _panel(ax, shown: Sequence[Configuration], eval_set: str, x_of: Callable) -> set | None:
    """Points, error bars and the front; the cfg_keys to label (None: all)."""
    front = _front(shown, eval_set, x_of)
    ax.step(
        [x_of(c) for c in front], [c.map_mean(eval_set) for c in front],
        where="post", color="0.45", lw=1.4, ls="--", zorder=1,
    )  # fmt: skip
    named = {c.cfg_key for c in front} if len(shown) > MAX_LABELS else None
    for i, c in enumerate(shown):
        on_front = c in front
        ax.errorbar(
            x_of(c), c.map_mean(eval_set), yerr=c.map_std(eval_set), fmt="o",
            color=nth_colour(i), ms=9 if on_front else 7, mec="black" if on_front else "white",
            mew=1.4 if on_front else 0.8, elinewidth=1.0, capsize=2.5, zorder=3,
        )  # fmt: skip
    return named


def _label(ax, shown: Sequence[Configuration], eval_set: str, x_of: Callable, named) -> None:
    """Each point's (or, past MAX_LABELS, each front point's) label where it overlaps nothing."""
    place_labels(
        ax,
        [(x_of(c), c.map_mean(eval_set)) for c in shown],
        [c.label if named is None or c.cfg_key in named else "" for c in shown],
    )
