"""The report's figures, each a pure function of the analysed sweep returning a matplotlib Figure.

Figures are built with the object API (`matplotlib.figure.Figure`, Agg canvas), never pyplot:
no global state, no display needed, safe to call from any process. A function returns None when
its figure does not apply to this sweep (no compression swept, one seed, no previews), and the
report says so in words instead.

    fig = map_vs_time(configs, swept_keys, eval_sets)
    fig.savefig("map_vs_time.png", dpi=120)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.analysis import Comparison, Configuration, pareto_front
from reports.labels import key_name, sort_key, value_text

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# Colour-blind-safe (Okabe–Ito), then matplotlib's tab10 for long lists.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MAX_LABELS = 24  # MAP-vs-time labels every point up to this many, then only the Pareto front
DPI = 110  # figures are drawn and saved at this resolution

SET_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")

# The settings the figures encode first, when the sweep varies them (the seed's Part 1 figure:
# colour = frequency scale, marker = window; Part 2: colour = compression).
COLOUR_KEYS = ("frontend.scale", "frontend.compression")
MARKER_KEYS = ("frontend.win_length",)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A Figure on an Agg canvas (no pyplot, no display), constrained layout, at `DPI`."""
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def time_unit(seconds: Sequence[float]) -> tuple[str, float]:
    """A unit that keeps training times readable: ("s", 1), ("min", 60) or ("h", 3600)."""
    top = max(seconds, default=0.0)
    if top < 180:
        return "s", 1.0
    if top < 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def encoding(keys: Sequence[str]) -> tuple[str | None, str | None, tuple[str, ...]]:
    """Which swept key sets colour, which sets the marker, and which go into point labels."""
    keys = tuple(keys)
    colour = next((k for k in COLOUR_KEYS if k in keys), keys[0] if keys else None)
    rest = [k for k in keys if k != colour]
    marker = next((k for k in MARKER_KEYS if k in rest), rest[0] if rest else None)
    return colour, marker, tuple(k for k in rest if k != marker)


def _levels(configs: Sequence[Configuration], key: str | None) -> list[Any]:
    if key is None:
        return [None]
    return sorted({c.swept.get(key) for c in configs}, key=sort_key)


def _colour(i: int) -> str:
    if i < len(COLOURS):
        return COLOURS[i]
    import matplotlib

    return matplotlib.colormaps["tab20"](i % 20)


def map_vs_time(
    configs: Sequence[Configuration], keys: Sequence[str], eval_sets: Sequence[str]
) -> Figure:
    """MAP against training time, one point per configuration (mean over seeds, error bars ±1 std
    where there are two or more seeds), colour and marker from `encoding`, the other swept values
    written beside each point, the Pareto front drawn; one panel per evaluation set."""
    colour_key, marker_key, label_keys = encoding(keys)
    colours = {v: _colour(i) for i, v in enumerate(_levels(configs, colour_key))}
    markers = {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(_levels(configs, marker_key))}
    unit, per = time_unit([c.train_time_s for c in configs])
    n_seeds = max((len(c.seeds) for c in configs), default=1)

    sets = [s for s in eval_sets if any(c.has(s) for c in configs)]
    fig = new_figure(6.2 * len(sets) + 2.2, 5.4)
    axes = fig.subplots(1, len(sets), squeeze=False)[0]
    for ax, eval_set in zip(axes, sets):
        shown = [c for c in configs if c.has(eval_set)]
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
        ax.set_xlabel(f"training time ({unit}" + (", mean over seeds)" if n_seeds > 1 else ")"))
        ax.set_ylabel(f"MAP on {eval_set}")
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.1)

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
)


def _point_label(key: str, value: Any, keys: Sequence[str]) -> str:
    """A value beside a point; a flag shows its name when true and nothing when false."""
    if isinstance(value, bool):
        return key_name(key, keys) if value else ""
    return value_text(value)


_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}


def _label_points(ax, configs, eval_set, label_keys, keys, per, only=None) -> None:
    """Write the swept values that colour and marker do not show next to each point (or only
    the points whose cfg_key is in `only`), each label in the first spot around its point that
    overlaps no other label or point (the figure is laid out first, so the overlap test sees
    final pixel positions)."""
    if not label_keys:
        return
    fig = ax.figure
    fig.canvas.draw()  # run the layout so data -> pixel transforms are final
    renderer = fig.canvas.get_renderer()
    xy = [(c.train_time_s / per, c.map_mean(eval_set)) for c in configs]
    pixels = ax.transData.transform(xy)
    pad = 7.0  # a marker's half size in pixels, roughly
    taken = [(x - pad, y - pad, x + pad, y + pad) for x, y in pixels]
    frame = ax.get_window_extent(renderer)
    # Top to bottom, so clusters are labelled from the outside in.
    for i in sorted(range(len(configs)), key=lambda i: -xy[i][1]):
        c = configs[i]
        if only is not None and c.cfg_key not in only:
            continue
        text = " · ".join(_point_label(k, c.swept.get(k), keys) for k in label_keys)
        text = " · ".join(part for part in text.split(" · ") if part)
        if not text:
            continue
        best, best_overlap = None, np.inf
        for offset, ha, va in _LABEL_SPOTS:
            ann = ax.annotate(
                text,
                xy[i],
                xytext=offset,
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=8,
                color="0.2",
                bbox=_LABEL_BOX,
            )
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
        taken.append(best[1])
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


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes, in square pixels."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def frontend_comparison(
    configs: Sequence[Configuration],
    keys: Sequence[str],
    eval_sets: Sequence[str],
    key: str = "frontend.compression",
    max_rows: int = 30,
) -> Figure | None:
    """MAP per frontend on each evaluation set side by side (the seed's test-vs-SWAMP figure):
    one row per configuration, sorted by MAP on the first set, a dot at the mean and ±1 std bars,
    coloured by `key`. None when the sweep does not vary `key`."""
    if key not in keys or not configs:
        return None
    sets = [s for s in eval_sets if any(c.has(s) for c in configs)]
    first = sets[0]
    rows = sorted(configs, key=lambda c: c.map_mean(first) if c.has(first) else -1.0)
    shown = _best_of(len(rows), max_rows)
    rows = rows[-max_rows:]
    colours = {v: _colour(i) for i, v in enumerate(_levels(configs, key))}

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
    # Rows follow the first set; on the others, a row's sign is flipped to keep its orientation.
    rows: list[Comparison] = list(comparisons[sets[0]])
    row_of = {(c.keys, frozenset((c.winner, c.loser))): i for i, c in enumerate(rows)}
    for s in sets[1:]:
        for c in comparisons[s]:
            ident = (c.keys, frozenset((c.winner, c.loser)))
            if ident not in row_of:
                row_of[ident] = len(rows)
                rows.append(c)

    fig = new_figure(max(10.0, 4.6 * len(sets) + 3.8), 0.55 * len(rows) + 2.0)
    axes = fig.subplots(1, len(sets), sharey=True, squeeze=False)[0]
    kinds = set()
    for ax, eval_set in zip(axes, sets):
        ax.axvline(0, color="0.3", lw=1)
        for c in comparisons[eval_set]:
            y = len(rows) - 1 - row_of[(c.keys, frozenset((c.winner, c.loser)))]
            sign = 1.0 if c.winner == rows[len(rows) - 1 - y].winner else -1.0
            diffs = sign * np.asarray(c.replicates)
            test = c.test
            mean = sign * test.mean
            if not test.noise_estimated:
                kind, colour, bar = "one_seed", "0.7", (diffs.min(), diffs.max())
            else:
                bar = tuple(sorted((sign * test.low, sign * test.high)))
                kind = ("first" if mean > 0 else "second") if test.significant else "unclear"
                colour = {"first": "#009E73", "second": "#D55E00", "unclear": "0.5"}[kind]
            kinds.add(kind)
            ax.plot(bar, [y, y], color=colour, lw=2.5, alpha=0.6, solid_capstyle="butt")
            ax.plot(diffs, np.full_like(diffs, y), "o", ms=4, color=colour, alpha=0.7)
            face = "white" if kind == "one_seed" else colour  # hollow: nothing was tested
            ax.plot(mean, y, "D", ms=9, color=colour, mfc=face, mec="black")
            wins = int((diffs > 0).sum())
            what = (
                "comparisons" if test.noise_estimated else ("pair" if len(diffs) == 1 else "pairs")
            )
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
        ax.set_title(f"evaluation set: {eval_set}", fontsize=11)
        ax.set_xlabel("MAP difference, first − second")
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.15)
    legend = {
        "first": ("#009E73", "first wins: 95% interval excludes 0"),
        "second": ("#D55E00", "second wins: 95% interval excludes 0"),
        "unclear": ("0.5", "no clear difference: interval includes 0"),
        "one_seed": ("0.7", "1 seed: noise not estimated (bar: range)"),
    }
    handles = [
        Line2D(
            [], [], ls="none", marker="D", ms=8, color=colour, mec="black", label=label,
            mfc="white" if kind == "one_seed" else colour,
        )
        for kind, (colour, label) in legend.items()
        if kind in kinds
    ]  # fmt: skip
    handles.append(Line2D([], [], ls="none", marker="o", ms=4, color="0.4", label="one difference"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
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


def _best_of(n: int, max_rows: int) -> str:
    """Title suffix when a ranked figure shows only the best `max_rows` of `n` rows."""
    return f" (the best {max_rows} of {n})" if n > max_rows else ""


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
    shown = _best_of(len(rows), max_rows)
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


def gallery(previews: Sequence[tuple[str, np.ndarray]], ncols: int = 4) -> Figure | None:
    """The same clip through every configuration's frontend: `(label, image (channels, H, W))`
    pairs, channels stacked top to bottom, low frequencies at the bottom. None when empty."""
    if not previews:
        return None
    ncols = min(ncols, len(previews))
    nrows = -(-len(previews) // ncols)
    fig = new_figure(3.6 * ncols, 2.9 * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(previews) :]:
        ax.set_axis_off()
    for ax, (label, image) in zip(axes.flat, previews):
        image = np.asarray(image, dtype=np.float32)
        if image.ndim == 2:
            image = image[None]
        channels, height, width = image.shape
        # A single compression repeated to fill an RGB backbone's channels: show it once.
        repeated = channels > 1 and all(np.array_equal(image[0], c) for c in image[1:])
        shown = image[:1] if repeated else image
        ax.imshow(
            _stack_channels(shown),
            origin="lower",
            aspect="auto",
            cmap="magma",
            interpolation="nearest",
        )
        ax.set_xticks([])
        ax.set_yticks([])
        shape = f"{channels}×{height}×{width}" if channels > 1 else f"{height}×{width}"
        if repeated:
            shape += ", one channel repeated"
        elif channels > 1:
            shape += ", channels top to bottom"
        ax.set_title(textwrap.fill(label, 36) + f"\n[{shape}]", fontsize=8)
    fig.suptitle(
        "Spectrogram gallery: the same evaluation clip through each configuration's frontend "
        "(time →, frequency ↑)",
        fontsize=11,
    )
    return fig


def _stack_channels(image: np.ndarray) -> np.ndarray:
    """`(channels, H, W)` -> `(channels * H + gaps, W)`, each channel scaled to [0, 1] on its own
    (channels can use different compressions) and the first channel on top; NaN rows between
    channels draw as a white gap."""
    parts = []
    for channel in image[::-1]:  # origin="lower": the last block drawn is on top
        lo, hi = float(np.nanmin(channel)), float(np.nanmax(channel))
        parts.append((channel - lo) / (hi - lo) if hi > lo else np.zeros_like(channel))
        parts.append(np.full((max(1, image.shape[1] // 24), image.shape[2]), np.nan))
    return np.concatenate(parts[:-1], axis=0)


Curve = tuple[tuple[int, float], ...]  # ((epoch, validation MAP), ...), epochs 1-based


def training_curves(
    curves: Sequence[tuple[str, Sequence[tuple[bool, Mapping[str, Curve]]]]],
    eval_sets: Sequence[str],
    ncols: int = 4,
) -> Figure | None:
    """Validation MAP per epoch, one small panel per configuration (shared axes), one colour per
    evaluation set: a thin line per finished seed and a thick one for their mean (a lone finished
    seed is drawn thick), a dashed line per trial that did not finish.

    `curves` holds `(label, [(finished, {eval_set: curve}) per trial])`. None when no run logged
    a curve.
    """
    curves = [c for c in curves if any(h for _, by_set in c[1] for h in by_set.values())]
    if not curves:
        return None
    ncols = min(ncols, len(curves))
    nrows = -(-len(curves) // ncols)
    fig = new_figure(3.4 * ncols + 0.6, 2.5 * nrows + 1.2)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for ax in axes.flat[len(curves) :]:
        ax.set_axis_off()
    colours = {s: SET_COLOURS[i % len(SET_COLOURS)] for i, s in enumerate(eval_sets)}
    any_unfinished = False
    for ax, (label, trials) in zip(axes.flat, curves):
        for eval_set in eval_sets:
            done = [by_set.get(eval_set, ()) for ok, by_set in trials if ok]
            done = [h for h in done if h]
            for finished, by_set in trials:
                history = by_set.get(eval_set, ())
                if not history:
                    continue
                any_unfinished |= not finished
                lone = finished and len(done) == 1
                ax.plot(
                    *zip(*history),
                    "-" if finished else "--",
                    color=colours[eval_set],
                    lw=2 if lone else 0.9,
                    alpha=1.0 if lone else 0.5,
                )
            mean = _mean_curve(done)
            if mean is not None:
                ax.plot(*mean, color=colours[eval_set], lw=2)
        ax.set_title(textwrap.fill(label, 40), fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("validation MAP")
    handles = [Line2D([], [], color=colours[s], lw=2, label=s) for s in eval_sets]
    handles.append(Line2D([], [], color="0.4", lw=0.9, alpha=0.6, label="one seed"))
    handles.append(Line2D([], [], color="0.4", lw=2, label="mean over seeds"))
    if any_unfinished:
        handles.append(Line2D([], [], color="0.4", lw=0.9, ls="--", label="not finished"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle("Training curves: validation MAP per epoch", fontsize=12)
    return fig


def _mean_curve(histories: Sequence[Sequence[tuple[int, float]]]):
    """Mean over seeds at the epochs every seed reached; None with fewer than two seeds."""
    histories = [dict(h) for h in histories if h]
    if len(histories) < 2:
        return None
    epochs = sorted(set.intersection(*(set(h) for h in histories)))
    if not epochs:
        return None
    return epochs, [float(np.mean([h[e] for h in histories])) for e in epochs]


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
    colours = {label: _colour(i) for i, label in enumerate(labels)}
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
