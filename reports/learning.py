"""Did the sweep learn anything? The warning a report opens with when its best configuration did not.

Each finished trial logs `learned` (1 or 0, from `runner.train.recipe.learned_verdict`: MAP at least
1.5x the label-prior MAP on the first evaluation set and a training loss that left the prior's
plateau), `map_over_prior_<set>` and `prior_map_<set>`. Comparing configurations none of which
learned is comparing noise around the label prior, so the report says so before anything else.

    text = learning_warning(table, configs, "test")   # None when the best configuration learned
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reports.analysis import Configuration
from reports.table import SweepTable

ADVICE = "try more epochs, `train.optimizer: adamw`, or pretrained weights (`model.pretrained`)"


def not_learned(table: SweepTable) -> list:
    """Finished trials tagged learned=no (trials logged before the tag existed are not counted)."""
    return [t for t in table.trials if t.finished and t.metrics.get("learned") == 0.0]


def learning_warning(
    table: SweepTable, configs: Sequence[Configuration], first_set: str
) -> str | None:
    """The warning when the configuration with the best mean MAP on `first_set` has a seed that
    did not learn; None otherwise (or when no trial carries the `learned` metric)."""
    scored = [c for c in configs if c.has(first_set)]
    if not scored:
        return None
    best = max(scored, key=lambda c: c.map_mean(first_set))
    trials = [t for t in table.trials if t.finished and t.cfg_key == best.cfg_key]
    verdicts = [t.metrics.get("learned") for t in trials]
    if not any(v == 0.0 for v in verdicts):
        return None
    priors = [t.metrics.get(f"prior_map_{first_set}") for t in trials]
    priors = [p for p in priors if p is not None and p > 0]
    ratio = best.map_mean(first_set) / float(np.mean(priors)) if priors else float("nan")
    bad, finished = len(not_learned(table)), sum(t.finished for t in table.trials)
    every = all(v == 0.0 for v in verdicts)
    head = (
        "No configuration learned much"
        if every
        else "The best configuration did not learn with every seed"
    )
    return (
        f"{head}: best MAP on {first_set} {best.map_mean(first_set):.3f} = {ratio:.1f}x the "
        f"label prior ({best.label}); {bad} of {finished} finished trials are tagged learned=no "
        "(MAP under 1.5x the prior, or a training loss that never left the prior's plateau). "
        f"The comparisons below are not meaningful; {ADVICE}."
    )
