"""Write a sweep's report: figures, takeaways and tables from a `SweepTable`, into one folder.

    from reports import write_report
    files = write_report(table, "reports/out/demo")   # report.html, report.md, *.png, table.csv

The takeaways are computed, the seed's three kinds: what wins and by how much (paired
differences between configurations that differ in one factor only), what it costs in training
time (the Pareto front), and which differences the seed-to-seed noise could explain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from reports import figures
from reports.analysis import (
    Configuration,
    comparisons,
    pareto_front,
    seed_std,
    summarise,
    within_noise_of_best,
)
from reports.document import Block, Bullets, Heading, Image, Paragraph, Table, to_html, to_markdown
from reports.labels import config_label, sort_key
from reports.table import SweepTable

# Small-multiple figures (gallery, curves) show at most this many configurations, in grid order:
# past that a panel per configuration is no longer readable.
MAX_PANELS = 24

FIGURE_FILES = {
    "map_vs_time": "map_vs_time.png",
    "frontends": "frontends.png",
    "factor_effects": "factor_effects.png",
    "seed_noise": "seed_noise.png",
    "gallery": "gallery.png",
    "training_curves": "training_curves.png",
}


def write_report(
    table: SweepTable, out_dir: str | Path, *, now: dt.datetime | None = None
) -> list[Path]:
    """Write report.html, report.md, the figures (PNG) and table.csv into `out_dir` (created if
    needed) and return their paths. Raises ValueError when the table has no trials at all."""
    if not table.trials:
        raise ValueError(f"experiment {table.experiment!r}: no trials to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in FIGURE_FILES.values():  # a figure that no longer applies must not linger
        (out_dir / name).unlink(missing_ok=True)

    configs = summarise(table)
    keys, sets = table.swept_keys, [s for s in table.eval_sets if any(c.has(s) for c in configs)]
    sigma = {s: seed_std(configs, s) for s in sets}
    comps = {s: comparisons(configs, keys, s) for s in sets}

    built = _figures(table, configs, sets, sigma, comps)
    written = []
    for name, fig in built.items():
        if fig is not None:
            path = out_dir / FIGURE_FILES[name]
            fig.savefig(path, dpi=figures.DPI)
            written.append(path)
    written.append(table.to_csv(out_dir / "table.csv"))

    now = now or dt.datetime.now(dt.UTC)
    blocks = _blocks(table, configs, sets, sigma, comps, {k for k, f in built.items() if f}, now)
    title = f"Sweep report: {table.experiment}"
    md = out_dir / "report.md"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(to_html(blocks, title, out_dir), encoding="utf-8")
    return [page, md, *written]


def takeaways(table: SweepTable) -> list[str]:
    """The report's takeaway sentences alone (for the MLflow experiment's description); empty
    when no trial has finished."""
    configs = summarise(table)
    keys, sets = table.swept_keys, [s for s in table.eval_sets if any(c.has(s) for c in configs)]
    if not sets:
        return []
    sigma = {s: seed_std(configs, s) for s in sets}
    comps = {s: comparisons(configs, keys, s) for s in sets}
    return _takeaways(table, configs, sets, sigma, comps)


def _figures(table, configs, sets, sigma, comps) -> dict[str, Figure | None]:
    keys = table.swept_keys
    labels = {t.cfg_key: config_label(t.swept, keys) for t in table.trials}
    # Gallery and curves show every configuration that has something to show, finished or not.
    previews = [(labels[k], table.previews[k]) for k in _grid_order(table) if k in table.previews]
    previews = previews[:MAX_PANELS]
    curves = []
    for k in _grid_order(table)[:MAX_PANELS]:
        trials = [t for t in table.trials if t.cfg_key == k]
        curves.append((labels[k], [(t.finished, t.curves) for t in trials]))
    return {
        "map_vs_time": figures.map_vs_time(configs, keys, sets) if configs else None,
        "frontends": figures.frontend_comparison(configs, keys, sets),
        "factor_effects": figures.factor_effects(comps, keys, sigma),
        "seed_noise": figures.seed_noise(configs, sets, sigma),
        "gallery": figures.gallery(previews),
        "training_curves": figures.training_curves(curves, table.eval_sets),
    }


def _grid_order(table: SweepTable) -> list[str]:
    first = {}
    for t in table.trials:
        first.setdefault(t.cfg_key, t)
    return sorted(
        first, key=lambda k: tuple(sort_key(first[k].swept.get(x)) for x in table.swept_keys)
    )


def _capped(n: int) -> str:
    return f" Showing the first {MAX_PANELS} of {n} configurations." if n > MAX_PANELS else ""


def duration_text(seconds: float) -> str:
    """Training time for a sentence: "45 s", "12.5 min", "3.2 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _map_text(c: Configuration, eval_set: str) -> str:
    std = c.map_std(eval_set)
    return f"{c.map_mean(eval_set):.3f}" + (f" ± {std:.3f}" if std is not None else "")


def _status_blocks(table: SweepTable, configs: Sequence[Configuration]) -> list[Block]:
    counts = table.status_counts()
    n_cfg = len({t.cfg_key for t in table.trials})
    n_seeds = len(table.seeds)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    blocks: list[Block] = [
        Paragraph(
            f"{len(table.trials)} trials ({n_cfg} configurations × {n_seeds} "
            f"seed{'s' if n_seeds != 1 else ''}): {summary}. "
            f"Swept: {', '.join(table.swept_keys) or 'nothing'}. "
            f"Evaluation sets: {', '.join(table.eval_sets)}."
        )
    ]
    unfinished = [t for t in table.trials if not t.finished]
    if unfinished:
        n_done = counts.get("finished", 0)
        blocks.append(
            Paragraph(
                f"Partial sweep: the figures and takeaways use the {n_done} finished trials "
                f"({len(configs)} of {n_cfg} configurations have at least one). "
                "Trials not finished:"
            )
        )
        blocks.append(
            Table(
                ("trial", "seed", "status", "reason", "attempts", "run id"),
                tuple(
                    (t.name, str(t.seed), t.status, t.reason or "", str(t.attempts), t.run_id)
                    for t in unfinished
                ),
            )
        )
    retried = [t for t in table.trials if t.finished and t.attempts > 1]
    if retried:
        blocks.append(
            Paragraph(
                f"{len(retried)} finished trial{'s' if len(retried) != 1 else ''} needed more "
                "than one attempt: " + ", ".join(f"{t.name} seed {t.seed}" for t in retried) + "."
            )
        )
    return blocks


def _takeaways(table, configs, sets, sigma, comps) -> list[str]:
    keys = table.swept_keys
    items = []
    by_key = {c.cfg_key: c for c in configs}
    for s in sets:
        shown = [c for c in configs if c.has(s)]
        best = max(shown, key=lambda c: c.map_mean(s))
        front = [by_key[k] for k in pareto_front(shown, s)]
        items.append(
            f"Best MAP on {s}: {best.label}, {_map_text(best, s)} "
            f"({len(best.map_by_seed[s])} seed{'s' if len(best.map_by_seed[s]) != 1 else ''}), "
            f"{duration_text(best.train_time_s)} of training."
        )
        if len(front) > 1:
            fastest = front[0]
            items.append(
                f"Fastest on the Pareto front ({s}): {fastest.label}, {_map_text(fastest, s)} MAP "
                f"in {duration_text(fastest.train_time_s)} "
                f"({best.train_time_s / fastest.train_time_s:.1f}× faster than the best, "
                f"{best.map_mean(s) - fastest.map_mean(s):.3f} MAP lower)."
            )
    # The factor takeaways on the first evaluation set; every set's are under "Factor effects".
    primary = sets[0]
    for comp in comps[primary]:
        items.append(f"On {primary}: {comp.sentence(keys, sigma[primary])}")
    if len(sets) > 1 and any(comps[s] for s in sets[1:]):
        items.append(f"Factor effects on {', '.join(sets[1:])}: see below.")
    return items


def _noise_blocks(configs, sets, sigma, comps, keys) -> list[Block]:
    if all(sigma[s] is None for s in sets):
        return []
    items = []
    for s in sets:
        sd = sigma[s]
        if sd is None:
            continue
        n = sum(len(c.map_by_seed.get(s, ())) > 1 for c in configs)
        tied = within_noise_of_best(configs, s, sd)
        small = [c for c in comps[s] if c.within_noise(sd)]
        text = (
            f"{s}: seed-to-seed std {sd:.3f} MAP (pooled over {n} configurations with two or "
            f"more seeds). {len(tied)} configuration{'s are' if len(tied) != 1 else ' is'} within "
            f"one std of the best: " + "; ".join(c.label for c in tied) + "."
        )
        if small:
            names = [" vs ".join(c.names(keys)) + f" ({c.mean:+.3f})" for c in small]
            text += " Factor differences smaller than the noise: " + "; ".join(names) + "."
        else:
            text += " Every factor difference is larger than the noise."
        items.append(text)
    return [
        Heading("Seed noise"),
        Paragraph(
            "The same configuration trained with different seeds does not reach the same MAP. "
            "A difference smaller than this spread may be noise (the seed study found a std of "
            "about 0.010 MAP on its test set, 0.017 on SWAMP)."
        ),
        Bullets(tuple(items)),
        Image(
            FIGURE_FILES["seed_noise"],
            "MAP of each seed per configuration",
            "Dots: each seed's final MAP; bar: the mean. Shaded: within one pooled std of the "
            "best mean, where this sweep cannot tell configurations apart.",
        ),
    ]


def _config_table(configs, sets) -> Table:
    header = ("configuration", "seeds", *(f"MAP {s} (mean ± std)" for s in sets), "training time")
    rows = tuple(
        (
            c.label,
            str(len(c.seeds)),
            *(_map_text(c, s) if c.has(s) else "" for s in sets),
            duration_text(c.train_time_s),
        )
        for c in sorted(configs, key=lambda c: -c.map_mean(sets[0]) if c.has(sets[0]) else 0)
    )
    return Table(header, rows)


def _blocks(table, configs, sets, sigma, comps, drawn: set[str], now: dt.datetime) -> list[Block]:
    keys = table.swept_keys
    blocks: list[Block] = [Heading(f"Sweep report: {table.experiment}", 1)]
    source = f"Runs read from {table.source}. " if table.source else ""
    blocks.append(Paragraph(f"{source}Generated {now:%Y-%m-%d %H:%M} UTC by specsweep report."))
    blocks += _status_blocks(table, configs)
    if not configs:
        blocks.append(
            Paragraph(
                "No trial has finished yet, so there is no MAP to compare. Run the report "
                "again when trials finish."
            )
        )
    else:
        blocks += [
            Heading("Takeaways"),
            Bullets(tuple(_takeaways(table, configs, sets, sigma, comps))),
        ]
        blocks += [
            Heading("MAP vs training time"),
            Image(
                FIGURE_FILES["map_vs_time"],
                "MAP vs training time, one point per configuration",
                "Each point is one configuration, its MAP and training time averaged over seeds"
                + (" (error bars: ±1 std over seeds)" if len(table.seeds) > 1 else "")
                + ". Points on the dashed Pareto front (black edge) are not beaten on both "
                "MAP and time by any other configuration.",
            ),
        ]
        blocks.append(Heading("Frontend comparison"))
        if "frontends" in drawn:
            blocks.append(
                Image(
                    FIGURE_FILES["frontends"],
                    "MAP per frontend on each evaluation set",
                    "One row per configuration, best on the first evaluation set at the top; "
                    "each panel has its own MAP axis.",
                )
            )
        else:
            blocks.append(
                Paragraph(
                    "Not drawn: this sweep does not vary frontend.compression, so there is "
                    "one frontend (see the factor effects for what it does vary)."
                )
            )
        blocks.append(Heading("Factor effects"))
        if "factor_effects" in drawn:
            blocks.append(
                Image(
                    FIGURE_FILES["factor_effects"],
                    "Paired differences per swept factor",
                    "Each row compares two levels of one factor over the pairs of configurations "
                    "that differ in that factor only (factors the grid ties together, such as a "
                    "hop with its image size, are compared together). Green: first wins, beyond "
                    "the seed noise; grey: within it.",
                )
            )
            for s in sets:
                blocks.append(
                    Bullets(tuple(f"On {s}: {c.sentence(keys, sigma[s])}" for c in comps[s]))
                )
        else:
            blocks.append(
                Paragraph(
                    "No two finished configurations differ in one factor only, so there "
                    "are no paired differences to show."
                )
            )
        noise = _noise_blocks(configs, sets, sigma, comps, keys)
        if noise:
            blocks += noise
        else:
            blocks += [
                Heading("Seed noise"),
                Paragraph(
                    "Not estimated: every configuration has one finished seed. Sweep two "
                    "or more seeds to tell real differences from training noise."
                ),
            ]
    blocks.append(Heading("Spectrogram gallery"))
    if "gallery" in drawn:
        blocks.append(
            Image(
                FIGURE_FILES["gallery"],
                "The same clip through every configuration's frontend",
                "The first evaluation clip, as each configuration's frontend turns it into the "
                "image the network sees (each trial's preview.npy artifact)."
                + _capped(len(table.previews)),
            )
        )
    else:
        blocks.append(Paragraph("Not drawn: no run has a preview.npy artifact yet."))
    blocks.append(Heading("Training curves"))
    if "training_curves" in drawn:
        blocks.append(
            Image(
                FIGURE_FILES["training_curves"],
                "Validation MAP per epoch for each configuration",
                "One panel per configuration; thin lines are seeds, thick lines their mean."
                + _capped(len({t.cfg_key for t in table.trials})),
            )
        )
    else:
        blocks.append(Paragraph("Not drawn: no run logged a val_map metric yet."))
    if configs:
        blocks += [Heading("Configurations"), _config_table(configs, sets)]
    blocks.append(Paragraph("Every trial's numbers, one row per trial: table.csv."))
    return blocks
