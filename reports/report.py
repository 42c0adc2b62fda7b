"""Write a sweep's report: figures, takeaways and tables from a `SweepTable`, into one folder.

    from reports import write_report
    files = write_report(table, "reports/out/demo")   # report.html, report.md, *.png, table.csv

This module runs the analysis once, draws the figures (`reports.figures`), builds the page's
blocks (`reports.sections`) and writes them out (`reports.document`). The takeaways are
computed (`reports.findings`), the Merlin study's three kinds: what wins and by how much (paired
differences between configurations that differ in one factor only), what it costs in training
time (the Pareto front), and which differences the seed-to-seed noise could explain.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from matplotlib.figure import Figure

from reports import figures
from reports.analysis import comparisons, seed_std, summarise, trial_label, versus_baseline
from reports.document import to_html, to_markdown
from reports.findings import noise_note, takeaway_sentences
from reports.labels import sort_key
from reports.learning import learning_warning
from reports.sections import FIGURE_FILES, MAX_PANELS, report_blocks
from reports.table import SweepTable


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
    versus = versus_baseline(configs, keys, sets)

    built = _figures(table, configs, sets, sigma, comps)
    written = []
    for name, fig in built.items():
        if fig is not None:
            path = out_dir / FIGURE_FILES[name]
            fig.savefig(path, dpi=figures.DPI)
            written.append(path)
    written.append(table.to_csv(out_dir / "table.csv"))

    now = now or dt.datetime.now(dt.UTC)
    drawn = {k for k, f in built.items() if f}
    blocks = report_blocks(table, configs, sets, sigma, comps, versus, drawn, now)
    title = f"Sweep report: {table.experiment}"
    md = out_dir / "report.md"
    md.write_text(to_markdown(blocks), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(to_html(blocks, title, out_dir), encoding="utf-8")
    return [page, md, *written]


def takeaways(table: SweepTable) -> list[str]:
    """The report's takeaway sentences alone (for the MLflow experiment's description), led by the
    report's warning when the best configuration did not learn, with the one-seed note (when there
    is one) after the first; empty when no trial has finished."""
    configs = summarise(table)
    keys, sets = table.swept_keys, [s for s in table.eval_sets if any(c.has(s) for c in configs)]
    if not sets:
        return []
    sigma = {s: seed_std(configs, s) for s in sets}
    comps = {s: comparisons(configs, keys, s) for s in sets}
    items = takeaway_sentences(
        table, configs, sets, sigma, comps, versus_baseline(configs, keys, sets)
    )
    note = noise_note(comps, sets)
    if note:
        items.insert(1, note)
    warning = learning_warning(table, configs, sets[0])  # first, as in the report
    return [warning, *items] if warning else items


def _figures(table, configs, sets, sigma, comps) -> dict[str, Figure | None]:
    keys = table.swept_keys
    labels = {t.cfg_key: trial_label(t, keys) for t in table.trials}
    # Gallery and curves show every configuration that has something to show, finished or not.
    previews = [(labels[k], table.previews[k]) for k in _grid_order(table) if k in table.previews]
    previews = previews[:MAX_PANELS]
    curves = []
    for k in _grid_order(table)[:MAX_PANELS]:
        trials = [t for t in table.trials if t.cfg_key == k]
        curves.append((labels[k], [(t.finished, t.curves) for t in trials]))
    return {
        "map_vs_time": figures.map_vs_time(configs, keys, sets) if configs else None,
        "map_vs_cost": figures.map_vs_cost(configs, sets),
        "frontends": figures.frontend_comparison(configs, keys, sets),
        "learned_parameters": figures.learned_parameters(
            [(labels[t.cfg_key], t.seed, t.frontend_params) for t in _in_grid_order(table)]
        ),
        "factor_effects": figures.factor_effects(comps, keys),
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


def _in_grid_order(table: SweepTable) -> list:
    """Finished trials, configurations in grid order, seeds ascending."""
    rank = {k: i for i, k in enumerate(_grid_order(table))}
    return sorted((t for t in table.trials if t.finished), key=lambda t: (rank[t.cfg_key], t.seed))
