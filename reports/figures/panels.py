"""Small multiples, one panel per configuration: the spectrogram gallery (the same clip
through every frontend) and the training curves (validation MAP per epoch).

    fig = gallery([(label, image (channels, H, W)), ...])
    fig = training_curves([(label, [(finished, {eval_set: curve}), ...]), ...], eval_sets)
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from reports.figures._style import SET_COLOURS, new_figure


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
