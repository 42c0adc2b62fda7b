"""The report's sections as document blocks: the status of the sweep, the takeaways, one section
per figure with its caption (or, when the figure does not apply, why not), the seed noise, the
frontend cost table and the table of configurations.

    blocks = report_blocks(table, configs, sets, sigma, comps, versus, drawn, now)
    to_markdown(blocks)   # or to_html(blocks, title, out_dir)

`drawn` names the figures that were drawn (keys of `FIGURE_FILES`); the blocks refer to their
files by the names in `FIGURE_FILES`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from reports.analysis import (
    BASELINE,
    Configuration,
    VersusBaseline,
    configuration_stds,
    within_noise_of_best,
)
from reports.cost import COLUMNS as COST_COLUMNS
from reports.cost import LATENCY, cost_cells
from reports.document import Block, Bullets, Heading, Image, Paragraph, Table
from reports.durations import format_duration
from reports.findings import (
    comparison_sentence,
    map_text,
    noise_note,
    takeaway_sentences,
    versus_sentence,
)
from reports.learning import learning_warning
from reports.setup import setup_lines
from reports.table import SweepTable

# Small-multiple figures (gallery, curves) show at most this many configurations, in grid order:
# past that a panel per configuration is no longer readable.
MAX_PANELS = 24

FIGURE_FILES = {
    "map_vs_time": "map_vs_time.png",
    "frontends": "frontends.png",
    "learned_parameters": "learned_parameters.png",
    "factor_effects": "factor_effects.png",
    "seed_noise": "seed_noise.png",
    "map_vs_cost": "map_vs_cost.png",
    "gallery": "gallery.png",
    "training_curves": "training_curves.png",
}


def report_blocks(
    table, configs, sets, sigma, comps, versus, drawn: set[str], now: dt.datetime
) -> list[Block]:
    """The whole report, top to bottom: title, status, then (once a trial has finished) the
    takeaways and the analysis sections, the gallery, the curves and the configurations."""
    blocks: list[Block] = [Heading(f"Sweep report: {table.experiment}", 1)]
    source = f"Runs read from {table.source}. " if table.source else ""
    blocks.append(Paragraph(f"{source}Generated {now:%Y-%m-%d %H:%M} UTC by specsweep report."))
    warning = learning_warning(table, configs, sets[0]) if sets else None
    if warning:
        blocks.append(Paragraph(f"WARNING: {warning}"))
    blocks += _status_blocks(table, configs)
    blocks += [Paragraph(line) for line in setup_lines(table)]
    if not configs:
        blocks.append(
            Paragraph(
                "No trial has finished yet, so there is no MAP to compare. Run the report "
                "again when trials finish."
            )
        )
    else:
        note = noise_note(comps, sets)
        blocks += [
            Heading("Takeaways"),
            *([Paragraph(note)] if note else []),
            Bullets(tuple(takeaway_sentences(table, configs, sets, sigma, comps, versus))),
        ]
        blocks += _map_vs_time_blocks(table)
        blocks += _inference_cost_blocks(configs, sets, drawn)
        blocks += _frontend_section(versus, sets, drawn)
        blocks += _factor_section(comps, sets, table.swept_keys, drawn)
        blocks += _noise_section(configs, sets, sigma, comps, table.swept_keys)
    blocks += _gallery_section(table, drawn)
    blocks += _curves_section(table, drawn)
    if configs:
        blocks += [Heading("Configurations"), _config_table(configs, sets)]
    blocks.append(Paragraph("Every trial's numbers, one row per trial: table.csv."))
    return blocks


def _map_vs_time_blocks(table: SweepTable) -> list[Block]:
    return [
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


def _inference_cost_blocks(configs, sets, drawn: set[str]) -> list[Block]:
    """MAP vs latency beside MAP vs training time, and the cost table (reports/cost.py)."""
    measured = [c for c in configs if c.cost]
    if not measured:
        return []
    first = sets[0]
    header = ("configuration", f"MAP {first}", *(title for title, _ in COST_COLUMNS.values()))
    rows = tuple(
        (c.label, map_text(c, first) if c.has(first) else "", *cost_cells(c.cost))
        for c in sorted(measured, key=lambda c: c.cost[LATENCY])
    )
    return [
        Heading("MAP vs inference cost"),
        _figure(
            "map_vs_cost",
            drawn,
            "MAP vs training time beside MAP vs CPU latency per clip",
            "Each point is one configuration. Latency: one clip, batch 1, one CPU thread, the "
            "frontend included, measured once per configuration on the machine that trained it.",
            "No figure: no configuration has its MAP and inference cost both measured.",
        ),
        Table(header, rows),
    ]


def _figure(key: str, drawn: set[str], title: str, caption: str, why_not: str) -> Block:
    """The figure `key` with its caption when it was drawn, else the sentence that says why not."""
    return Image(FIGURE_FILES[key], title, caption) if key in drawn else Paragraph(why_not)


def _frontend_section(versus: Sequence[VersusBaseline], sets, drawn: set[str]) -> list[Block]:
    blocks: list[Block] = [
        Heading("Frontend comparison"),
        _figure(
            "frontends",
            drawn,
            "MAP per frontend on each evaluation set",
            "One row per configuration, best on the first evaluation set at the top; "
            "dot: mean over seeds, error bars: ±1 std over seeds; each panel has its own "
            "MAP axis.",
            "Not drawn: this sweep does not vary frontend.compression, so there is "
            "one frontend (see the factor effects for what it does vary).",
        ),
    ]
    if "frontends" in drawn:
        blocks += _frontend_blocks(versus, sets, "learned_parameters" in drawn)
    return blocks


def _factor_section(comps, sets, keys, drawn: set[str]) -> list[Block]:
    blocks: list[Block] = [
        Heading("Factor effects"),
        _figure(
            "factor_effects",
            drawn,
            "Paired differences per swept factor",
            "Each row compares two levels of one factor over the pairs of configurations "
            "that differ in that factor only (factors the grid ties together, such as a "
            "hop with its image size, are compared together). The replicates are the "
            "paired differences, one per pair of configurations and seed both finished; "
            "the bar is the 95% Student t interval of their mean, and a row is coloured "
            "only when it excludes 0 (green: the first level wins, orange: the second). "
            "The p-values in the sentences are exact two-sided sign-flip (permutation) "
            "tests over the same differences. With one seed there is no noise estimate: "
            "rows are grey and nothing is called a difference.",
            "No two finished configurations differ in one factor only, so there "
            "are no paired differences to show.",
        ),
    ]
    if "factor_effects" in drawn:
        # The first set's sentences are takeaways already: said once, up there.
        if comps[sets[0]]:
            blocks.append(Paragraph(f"On {sets[0]}: the sentences are in the takeaways above."))
        for s in sets[1:]:
            blocks.append(
                Bullets(tuple(f"On {s}: {comparison_sentence(c, keys)}" for c in comps[s]))
            )
    return blocks


def _noise_section(configs, sets, sigma, comps, keys) -> list[Block]:
    noise = _noise_blocks(configs, sets, sigma, comps, keys)
    if noise:
        return noise
    return [
        Heading("Seed noise"),
        Paragraph(
            "Not estimated: every configuration has one finished seed. Sweep two "
            "or more seeds to tell real differences from training noise."
        ),
    ]


def _gallery_section(table: SweepTable, drawn: set[str]) -> list[Block]:
    return [
        Heading("Spectrogram gallery"),
        _figure(
            "gallery",
            drawn,
            "The same clip through every configuration's frontend",
            "The first evaluation clip, as each configuration's frontend turns it into the "
            "image the network sees (each trial's preview.npy artifact)."
            + _capped(len(table.previews)),
            "Not drawn: no run has a preview.npy artifact yet.",
        ),
    ]


def _curves_section(table: SweepTable, drawn: set[str]) -> list[Block]:
    return [
        Heading("Training curves"),
        _figure(
            "training_curves",
            drawn,
            "Validation MAP per epoch for each configuration",
            "One panel per configuration; thin lines are seeds, thick lines their mean."
            + _capped(len({t.cfg_key for t in table.trials})),
            "Not drawn: no run logged a val_map metric yet.",
        ),
    ]


def _capped(n: int) -> str:
    return f" Showing the first {MAX_PANELS} of {n} configurations." if n > MAX_PANELS else ""


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


# The Merlin study's seed-to-seed std (n = 5): on its curated test set and on the low-SNR SWAMP set.
SEED_STUDY_STD = {"test": 0.010, "field": 0.017}
SEED_STUDY_SET = {"test": "its curated test set", "field": "SWAMP, its low-SNR field set"}


def _noise_blocks(configs, sets, sigma, comps, keys) -> list[Block]:
    if all(sigma[s] is None for s in sets):
        return []
    items = []
    for s in sets:
        sd = sigma[s]
        if sd is None:
            continue
        n = len(configuration_stds(configs, s))
        tied = within_noise_of_best(configs, s, sd)
        study = SEED_STUDY_STD.get(s)
        beside = (
            f" (the Merlin study: {study:.3f} on {SEED_STUDY_SET[s]})" if study is not None else ""
        )
        text = (
            f"{s}: pooled seed-to-seed std {sd:.3f} MAP{beside}, over {n} configurations with "
            f"two or more seeds. {len(tied)} configuration{'s are' if len(tied) != 1 else ' is'} "
            "within one std of the best: " + "; ".join(c.label for c in tied) + "."
        )
        unclear = [c for c in comps[s] if not c.significant]
        if unclear:
            names = [" vs ".join(c.names(keys)) + f" ({c.mean:+.3f})" for c in unclear]
            text += (
                " Factor differences whose 95% interval includes 0 (not told apart from noise): "
                + "; ".join(names)
                + "."
            )
        elif comps[s]:
            text += " Every factor difference's 95% interval excludes 0."
        items.append(text)
    header = ("configuration", "seeds", *(f"MAP std over seeds ({s})" for s in sets))
    stds = {s: dict((c.cfg_key, v) for c, v in configuration_stds(configs, s)) for s in sets}
    rows = [
        (c.label, str(len(c.seeds)), *(_num(stds[s].get(c.cfg_key)) for s in sets)) for c in configs
    ]
    rows.append(("pooled", "", *(_num(sigma[s]) for s in sets)))
    rows.append(("Merlin study (n = 5)", "5", *(_num(SEED_STUDY_STD.get(s)) for s in sets)))
    return [
        Heading("Seed noise"),
        Paragraph(
            "The same configuration trained with different seeds does not reach the same MAP. "
            "Each configuration's std over its seeds, pooled over configurations (the seed "
            "study found about 0.010 MAP on its test set, 0.017 on SWAMP):"
        ),
        Table(header, tuple(rows)),
        Bullets(tuple(items)),
        Image(
            FIGURE_FILES["seed_noise"],
            "MAP of each seed per configuration",
            "Dots: each seed's final MAP; bar: the mean. Shaded: within one pooled std of the "
            "best mean.",
        ),
    ]


def _frontend_blocks(versus: Sequence[VersusBaseline], sets, learned_drawn: bool) -> list[Block]:
    blocks: list[Block] = []
    if versus:
        blocks += [
            Paragraph(
                f"Each frontend against {BASELINE} with the same other settings, paired by seed: "
                f"training time relative to {BASELINE} (geometric mean of the per-seed ratios, "
                "their range in brackets) and MAP difference with its 95% t interval over the "
                "seeds (* : the interval excludes 0)."
            ),
            _cost_table(versus, sets),
            Bullets(
                tuple(
                    f"On {s}: {versus_sentence(v, s)}"
                    for s in sets
                    for v in versus
                    if s in v.map_diffs
                )
            ),
        ]
    if learned_drawn:
        blocks.append(
            Image(
                FIGURE_FILES["learned_parameters"],
                "Learned frontend parameters per band",
                "Each trial's exp exponent and PCEN parameters after training "
                "(frontend_params.json), against the band's centre frequency: one line per "
                "trial, colour = configuration, a flat line where the parameter is global; "
                "dashed: the initial value.",
            )
        )
    return blocks


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _interval_text(v: VersusBaseline, eval_set: str) -> str:
    if eval_set not in v.map_diffs:
        return ""
    test = v.test(eval_set)
    if not test.noise_estimated:
        return f"{test.mean:+.3f} (1 seed)"
    mark = " *" if test.significant else ""
    return f"{test.mean:+.3f} [{test.low:+.3f}, {test.high:+.3f}]{mark}"


def _cost_table(versus: Sequence[VersusBaseline], sets) -> Table:
    header = (
        "frontend",
        "paired seeds",
        "training time",
        f"× {BASELINE} (range over seeds)",
        *(f"MAP − {BASELINE} on {s} [95% t interval]" for s in sets),
    )
    rows = []
    shown = set()
    for v in versus:
        base = v.baseline
        if base.cfg_key not in shown:
            shown.add(base.cfg_key)
            rows.append(
                (
                    base.label,
                    str(len(base.seeds)),
                    format_duration(base.train_time_s, style="unit"),
                    "1.00",
                )
                + ("",) * len(sets)
            )
        ratios = v.time_ratios
        spread = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
        rows.append(
            (
                v.config.label,
                str(len(v.seeds)),
                format_duration(v.config.train_time_s, style="unit"),
                f"{v.time_ratio:.2f}{spread}",
                *(_interval_text(v, s) for s in sets),
            )
        )
    return Table(header, tuple(rows))


def _config_table(configs, sets) -> Table:
    header = ("configuration", "seeds", *(f"MAP {s} (mean ± std)" for s in sets), "training time")
    rows = tuple(
        (
            c.label,
            str(len(c.seeds)),
            *(map_text(c, s) if c.has(s) else "" for s in sets),
            format_duration(c.train_time_s, style="unit"),
        )
        for c in sorted(configs, key=lambda c: -c.map_mean(sets[0]) if c.has(sets[0]) else 0)
    )
    return Table(header, rows)
