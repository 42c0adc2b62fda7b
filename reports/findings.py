"""The report's takeaways as sentences, computed from the analysed sweep: what wins and by how
much (paired differences between configurations that differ in one factor only), what it costs
in training time (the Pareto front and each frontend against dB), and which differences the
seed-to-seed noise could explain.

    items = takeaway_sentences(table, configs, sets, sigma, comps, versus)
    note = noise_note(comps, sets)  # "1 seed: ...", said once above the takeaways, or None
    comparison_sentence(comp, keys)  # "mel beat linear: +0.041 MAP [+0.021, +0.060], ..."
    versus_sentence(versus, "test")  # "pcen beat db: ...; 1.35× db's training time (...)."

Every sentence that words a statistic lives here; the numbers are `reports.analysis`'.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.analysis import BASELINE, Comparison, Configuration, VersusBaseline, pareto_front
from reports.cost import best_value
from reports.durations import format_duration
from reports.stats import ALPHA, PairedTest


def map_text(c: Configuration, eval_set: str) -> str:
    """A configuration's MAP on `eval_set` for a sentence or a cell: "0.812 ± 0.010"."""
    std = c.map_std(eval_set)
    return f"{c.map_mean(eval_set):.3f}" + (f" ± {std:.3f}" if std is not None else "")


def takeaway_sentences(table, configs, sets, sigma, comps, versus) -> list[str]:
    """Every takeaway in the report's order: per evaluation set the best configuration and the
    fastest on the Pareto front, the frontends against the baseline, then the factor effects on
    the first set."""
    keys = table.swept_keys
    items = []
    by_key = {c.cfg_key: c for c in configs}
    for s in sets:
        shown = [c for c in configs if c.has(s)]
        best = max(shown, key=lambda c: c.map_mean(s))
        front = [by_key[k] for k in pareto_front(shown, s)]
        items.append(
            f"Best MAP on {s}: {best.label}, {map_text(best, s)} "
            f"({len(best.map_by_seed[s])} seed{'s' if len(best.map_by_seed[s]) != 1 else ''}), "
            f"{format_duration(best.train_time_s, style='unit')} of training."
        )
        if len(front) > 1:
            items.append(_fastest_sentence(front[0], best, s))
    if value := best_value(configs, sets[0]):  # the inference cost (reports/cost.py)
        items.append(value)
    items += _versus_takeaways(versus, sets)
    # The factor takeaways on the first evaluation set; the other sets' are in the report's
    # "Factor effects" section (which repeats none of these).
    primary = sets[0]
    for comp in comps[primary]:
        items.append(f"On {primary}: {comparison_sentence(comp, keys)}")
    if len(sets) > 1 and any(comps[s] for s in sets[1:]):
        items.append(
            f'Factor effects on {", ".join(sets[1:])}: in the report\'s "Factor effects" section.'
        )
    return items


def noise_note(comps, sets) -> str | None:
    """The one sentence, said once above the takeaways, when no comparison has an estimate of the
    seed-to-seed noise (one seed): why nothing in them is called a difference."""
    if not sets or not comps[sets[0]]:
        return None
    if any(c.test.noise_estimated for s in sets for c in comps[s]):
        return None
    return (
        "1 seed: the seed-to-seed noise is not estimated, so no difference in this report is "
        "called real; sweep two or more seeds (seeds: N) to test them."
    )


# Training times within this ratio are reported as the same (one decimal would print "1.0×").
SAME_TIME = 1.05


def _fastest_sentence(fastest: Configuration, best: Configuration, eval_set: str) -> str:
    """The Pareto front's fastest configuration against the best one: how much faster, how much
    MAP it gives up; "about as fast as the best" when the times are within 5%."""
    ratio = best.train_time_s / fastest.train_time_s
    speed = (
        f"{ratio:.1f}× faster than the best" if ratio >= SAME_TIME else "about as fast as the best"
    )
    return (
        f"Fastest on the Pareto front ({eval_set}): {fastest.label}, {map_text(fastest, eval_set)} "
        f"MAP in {format_duration(fastest.train_time_s, style='unit')} ({speed}, "
        f"{best.map_mean(eval_set) - fastest.map_mean(eval_set):.3f} MAP lower)."
    )


def _versus_takeaways(versus: Sequence[VersusBaseline], sets) -> list[str]:
    """Which frontend did best against dB on each set, whether beyond the noise, and the cost."""
    if not versus:
        return []
    items = []
    for s in sets:
        rows = [v for v in versus if s in v.map_diffs]
        if not rows:
            continue
        top = max(rows, key=lambda v: v.test(s).mean)
        real = [v.config.label for v in rows if v.test(s).significant]
        verdict = (
            f" Beyond the seed noise (95% interval excludes 0): {', '.join(real)}."
            if real
            else (
                " None of the frontends differs from "
                f"{BASELINE} beyond the seed noise (every 95% interval includes 0)."
                if top.test(s).noise_estimated
                else ""
            )
        )
        items.append(
            f"Frontends against {BASELINE} on {s}, best: {versus_sentence(top, s)}{verdict}"
        )
    costly = max(versus, key=lambda v: v.time_ratio)
    items.append(
        f"Costliest frontend: {costly.config.label} at {cost_text(costly)} (the Merlin study saw "
        "trainable PCEN take up to about 1.5× as long as dB)."
    )
    return items


# ---------------------------------------------------------------------------------------------
# The wording of a paired difference (the statistics are reports.analysis and reports.stats)
# ---------------------------------------------------------------------------------------------


def comparison_sentence(comp: Comparison, all_keys: Sequence[str]) -> str:
    """A factor's takeaway, worded by what the numbers support (see `difference_sentence`). With
    one seed it says what was seen and no more; the report says once, at its top, that the noise
    is not estimated (`noise_note`)."""
    win, lose = comp.names(all_keys)
    text = difference_sentence(win, lose, comp.test, comp.replicates, len(comp.pairs))
    return text + f", at {comp.time_ratio:.2f}× the training time."


def difference_sentence(
    win: str, lose: str, test: PairedTest, replicates: Sequence[float], n_pairs: int
) -> str:
    """ "mel beat linear: +0.041 MAP [+0.021, +0.060], 12 of 12 paired comparisons (sign-flip
    p = 0.0002)" when the 95% interval excludes 0; "no clear difference between ...: ... won 3
    of 6 ..." when it does not; with one seed no interval at all, only what was seen (without a
    closing full stop, so a caller can add the training time)."""
    if not test.noise_estimated:
        pairs = "pair" if n_pairs == 1 else "pairs"
        spread = f" (range {min(replicates):+.3f} to {max(replicates):+.3f})" if n_pairs > 1 else ""
        if test.mean == 0:
            return f"{win} and {lose} tied over {n_pairs} {pairs}, +0.000 MAP{spread}"
        return f"{win} ahead of {lose} in {test.wins} of {n_pairs} {pairs}, {test.mean:+.3f} MAP{spread}"
    interval = f"{test.mean:+.3f} MAP [{test.low:+.3f}, {test.high:+.3f}]"
    p = _p_text(test)
    if test.significant:
        return f"{win} beat {lose}: {interval}, {test.wins} of {test.n} paired comparisons ({p})"
    return (
        f"no clear difference between {win} and {lose}: {interval}, {win} won {test.wins} of "
        f"{test.n} paired comparisons ({p})"
    )


def _p_text(test: PairedTest) -> str:
    p = test.p_value
    text = f"sign-flip p = {p:.2g}" if p >= 0.001 else "sign-flip p < 0.001"
    if not test.exact:
        text += ", sampled"
    if test.p_floor is not None and test.p_floor > ALPHA:
        text += f", the smallest possible with {test.n} is {test.p_floor:.2g}"
    return text


def cost_text(versus: VersusBaseline) -> str:
    """ "1.32× dB's training time (1.28-1.37 over 6 seeds)"."""
    ratios = versus.time_ratios
    n = len(ratios)
    spread = f" ({min(ratios):.2f}–{max(ratios):.2f} over {n} seeds)" if n > 1 else " (1 seed)"
    return f"{versus.time_ratio:.2f}× {BASELINE}'s training time{spread}"


def versus_sentence(versus: VersusBaseline, eval_set: str) -> str:
    """ "pcen beat db: +0.021 MAP [...], 6 of 6 paired comparisons (...); 1.35× db's ..."."""
    test = versus.test(eval_set)
    label, base = versus.config.label, versus.baseline.label
    text = difference_sentence(label, base, test, versus.map_diffs[eval_set], 1)
    if not test.noise_estimated:  # what was seen; the report's top says the noise is unknown
        text = f"{label} vs {base}: {test.mean:+.3f} MAP"
    return f"{text}; {cost_text(versus)}."
