"""MAP against training time, one point per configuration, with the Pareto front.

    fig = map_vs_time(configs, swept_keys, eval_sets)

Colour and marker encode two swept settings (`_style.encoding`); the others are written beside
each point, each label placed where it overlaps no other label or point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.analysis import Configuration, pareto_front
from reports.figures._style import MARKERS, encoding, levels, new_figure, nth_colour
from reports.labels import key_name, value_text

MAX_LABELS = 24  # MAP-vs-time labels every point up to this many, then only the Pareto front


def time_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """A unit that keeps training times readable: ("s", 1), ("min", 60) or ("h", 3600)."""
    top = max(seconds, default=0.0)
    if top < 180:
        return "s", 1.0
    if top < 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def map_vs_time(
    configs: Sequence[Configuration], keys: Sequence[str], eval_sets: Sequence[str]
) -> Figure:
    """MAP against training time, one point per configuration (mean over seeds, error bars ±1 std
    where there are two or more seeds), colour and marker from `encoding`, the other swept values
    written beside each point, the Pareto front drawn; one panel per evaluation set."""
    colour_key, marker_key, label_keys = encoding(keys)
    colours = {v: nth_colour(i) for i, v in enumerate(levels(configs, colour_key))}
    markers = {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(levels(configs, marker_key))}
    unit, per = time_unit([c.train_time_s for c in configs])
    n_seeds = max((len(c.seeds) for c in configs), default=1)

    sets = [s for s in eval_sets if any(c.has(s) for c in configs)]
    fig = new_figure(6.2 * len(sets) + 2.2, 5.4)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, eval_set in zip(axes, sets):
        shown = [c for c in configs if c.has(eval_set)]
        style = (colour_key, colours, marker_key, markers)
        _draw_panel(ax, shown, eval_set, style, per)
        ax.set_xlabel(f"training time ({unit}" + (", mean over seeds)" if n_seeds > 1 else ")"))
        ax.set_ylabel(f"MAP on {eval_set}")
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.1)

    _legend(fig, keys, colour_key, colours, marker_key, markers)
    spread = "error bars ±1 std over seeds" if n_seeds > 1 else "one seed, no error bars"
    fig.suptitle(
        f"MAP vs training time: up and left is better\none point per configuration, {spread}",
        fontsize=12,
    )
    # Labels last: their placement needs the final layout. Past MAX_LABELS points the labels
    # would bury the points, so only the Pareto front (the configurations worth naming) is labelled.
    for ax, eval_set in zip(axes, sets):
        shown = [c for c in configs if c.has(eval_set)]
        only = set(pareto_front(shown, eval_set)) if len(shown) > MAX_LABELS else None
        _label_points(ax, shown, eval_set, label_keys, keys, per, only)
    return fig


def _draw_panel(ax, shown: Sequence[Configuration], eval_set: str, style, per: float) -> None:
    """One evaluation set's points (front points larger, black-edged) and the front's staircase;
    `style` is (colour key, {value: colour}, marker key, {value: marker})."""
    colour_key, colours, marker_key, markers = style
    front = pareto_front(shown, eval_set)
    by_key = {c.cfg_key: c for c in shown}
    xs = [by_key[k].train_time_s / per for k in front]
    ys = [by_key[k].map_mean(eval_set) for k in front]
    # The front as a staircase: from each front point MAP holds until the next, slower one.
    ax.step(xs, ys, where="post", color="0.45", lw=1.4, ls="--", zorder=1)
    for c in shown:
        on_front = c.cfg_key in front
        ax.errorbar(
            c.train_time_s / per,
            c.map_mean(eval_set),
            xerr=None if c.train_time_std_s is None else c.train_time_std_s / per,
            yerr=c.map_std(eval_set),
            fmt=markers[c.swept.get(marker_key) if marker_key else None],
            color=colours[c.swept.get(colour_key) if colour_key else None],
            ms=10 if on_front else 8,
            mec="black" if on_front else "white",
            mew=1.5 if on_front else 0.8,
            elinewidth=1.0,
            capsize=2.5,
            zorder=3,
        )


def _legend(fig, keys, colour_key, colours, marker_key, markers) -> None:
    """The legend outside on the right: a bold heading per encoded key, its values, the front."""
    handles = []
    if colour_key:
        handles.append(Line2D([], [], ls="none", label=key_name(colour_key, keys)))
        handles += [
            Line2D([], [], ls="none", marker="o", ms=9, color=col, label=value_text(v))
            for v, col in colours.items()
        ]
    if marker_key:
        handles.append(Line2D([], [], ls="none", label="\n" + key_name(marker_key, keys)))
        handles += [
            Line2D([], [], ls="none", marker=m, ms=9, color="0.3", label=value_text(v))
            for v, m in markers.items()
        ]
    handles.append(Line2D([], [], ls="none", label=""))
    handles.append(
        Line2D(
            [],
            [],
            color="0.45",
            ls="--",
            marker="o",
            mec="black",
            mfc="white",
            mew=1.5,
            label="Pareto front",
        )
    )
    legend = fig.legend(handles=handles, loc="outside right upper", frameon=False, fontsize=10)
    for text, handle in zip(legend.get_texts(), handles):
        if not handle.get_marker() or handle.get_marker() == "None":
            text.set_fontweight("bold")


# Where a point's label may go, in points from the point: right, left, above, below, diagonals.
_LABEL_SPOTS = (
    ((8, 0), "left", "center"),
    ((-8, 0), "right", "center"),
    ((6, 7), "left", "bottom"),
    ((6, -7), "left", "top"),
    ((-6, 7), "right", "bottom"),
    ((-6, -7), "right", "top"),
    ((0, 10), "center", "bottom"),
    ((0, -10), "center", "top"),
    # a second ring, for crowded corners
    ((18, 0), "left", "center"),
    ((-18, 0), "right", "center"),
    ((12, 16), "left", "bottom"),
    ((12, -16), "left", "top"),
    ((-12, 16), "right", "bottom"),
    ((-12, -16), "right", "top"),
)
# Points closer than this (pixels) that would carry the same label get it once, for all of them.
_SAME_LABEL_PX = 30.0


def _point_label(key: str, value: Any, keys: Sequence[str]) -> str:
    """A value beside a point; a flag shows its name when true and nothing when false."""
    if isinstance(value, bool):
        return key_name(key, keys) if value else ""
    return value_text(value)


_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}


def _label_points(ax, configs, eval_set, label_keys, keys, per, only=None) -> None:
    """Write the swept values that colour and marker do not show next to each point (or only
    the points whose cfg_key is in `only`), placed by `place_labels`."""
    if not label_keys:
        return
    xy = [(c.train_time_s / per, c.map_mean(eval_set)) for c in configs]
    texts = [
        _label_text(c, label_keys, keys) if only is None or c.cfg_key in only else ""
        for c in configs
    ]
    place_labels(ax, xy, texts)
    names = " · ".join(key_name(k, keys) for k in label_keys)
    ax.text(
        0.01,
        0.99,
        f"{'Pareto front labels' if only is not None else 'point labels'}: {names}",
        transform=ax.transAxes,
        fontsize=9,
        va="top",
        color="0.2",
    )


def place_labels(ax, xy: Sequence[tuple[float, float]], texts: Sequence[str]) -> None:
    """Write texts[i] next to the point xy[i] (data coordinates; "" for no label), each in the
    first spot around its point that overlaps no other label or point and stays inside the axes
    (the figure is laid out first, so the overlap test sees final pixel positions); a label that
    a nearby point already says is written once for the cluster."""
    fig = ax.figure
    fig.canvas.draw()  # run the layout so data -> pixel transforms are final
    renderer = fig.canvas.get_renderer()
    pixels = ax.transData.transform(xy)
    pad = 7.0  # a marker's half size in pixels, roughly
    taken = [(x - pad, y - pad, x + pad, y + pad) for x, y in pixels]
    frame = ax.get_window_extent(renderer)
    said: list[tuple[str, float, float]] = []  # (text, pixel x, pixel y) of each label written
    # Top to bottom, so clusters are labelled from the outside in.
    for i in sorted(range(len(xy)), key=lambda i: -xy[i][1]):
        text = texts[i]
        if not text:
            continue
        px, py = pixels[i]
        if any(t == text and np.hypot(px - x, py - y) < _SAME_LABEL_PX for t, x, y in said):
            continue  # a neighbour already says it: one label for the cluster, not a pile
        said.append((text, px, py))
        taken.append(_best_spot(ax, xy[i], text, renderer, frame, taken))


def _best_spot(ax, point, text, renderer, frame, taken) -> tuple[float, ...]:
    """Annotate `point` with `text` at the spot of _LABEL_SPOTS that overlaps the `taken` boxes
    least (leaving the axes counts tenfold); the chosen label's pixel box."""
    best, best_overlap = None, np.inf
    for offset, ha, va in _LABEL_SPOTS:
        ann = ax.annotate(
            text, point, xytext=offset, textcoords="offset points", ha=ha, va=va,
            fontsize=8, color="0.2", bbox=_LABEL_BOX,
        )  # fmt: skip
        ann.set_in_layout(False)
        box = ann.get_window_extent(renderer)
        box = (box.x0, box.y0, box.x1, box.y1)
        inside = _overlap(box, (frame.x0, frame.y0, frame.x1, frame.y1))
        outside = (box[2] - box[0]) * (box[3] - box[1]) - inside
        overlap = sum(_overlap(box, t) for t in taken) + 10 * outside
        if overlap < best_overlap:
            if best is not None:
                best[0].remove()
            best, best_overlap = (ann, box), overlap
        else:
            ann.remove()
        if overlap == 0:
            break
    return best[1]


def _label_text(c: Configuration, label_keys: Sequence[str], keys: Sequence[str]) -> str:
    parts = (_point_label(k, c.swept.get(k), keys) for k in label_keys)
    return " · ".join(part for part in parts if part)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes, in square pixels."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)
