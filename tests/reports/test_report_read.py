"""Reading a sweep's runs back from a real MLflow store (the runs of `helpers.report_runs`,
logged following the layout of docs/design.md, decision 7): the tidy table equals the logged
metrics, parameters parse back to their values, and the paired differences match a hand
computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.report_runs import SETS, SWEPT, merlin_grid, plausible_result, trial_name

from reports.analysis import comparisons, factors, seed_std, summarise
from reports.findings import comparison_sentence


def test_table_equals_the_logged_metrics(store):
    from runner.tracking import runs

    client = store["client"]
    table = runs.read_sweep(runs.connect(store["uri"]), "merlin")
    assert table.swept_keys == SWEPT
    assert set(table.eval_sets) == set(SETS)
    assert len(table.trials) == 24 and table.status_counts() == {"finished": 24}
    experiment = client.get_experiment_by_name("merlin")
    logged = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    for trial in table.trials:
        run = logged[trial.run_id]
        assert trial.map == {s: run.data.metrics[f"map_{s}"] for s in SETS}
        assert trial.train_time_s == run.data.metrics["train_time_s"]
        assert trial.seed == int(run.data.tags["seed"])
        assert trial.swept["frontend.image_size"] in ((128, 1024), (96, 512), (128, 512))
        assert trial.swept["frontend.win_length"] == int(run.data.params["frontend.win_length"])
        assert [e for e, _ in trial.curves["test"]] == [1, 2, 3, 4, 5, 6]
        assert trial.curves["test"][-1][1] == pytest.approx(
            trial.map["test"] * (1 - 0.6 * math.exp(-6 / 1.5))
        )
    assert set(table.previews) == {t.cfg_key for t in table.trials}
    assert all(p.ndim == 3 and p.dtype == np.float32 for p in table.previews.values())

    # The CSV holds the same numbers, to full precision.
    import csv

    path = table.to_csv(store["tmp"] / "table.csv")
    rows = list(csv.DictReader(path.open()))
    by_run = {r["run_id"]: r for r in rows}
    for trial in table.trials:
        assert float(by_run[trial.run_id]["map_swamp"]) == trial.map["swamp"]
        assert float(by_run[trial.run_id]["train_time_s"]) == trial.train_time_s
        assert by_run[trial.run_id]["frontend.image_size"] in (
            "[128, 1024]",
            "[96, 512]",
            "[128, 512]",
        )


def test_parse_param_inverts_the_layout():
    from runner.tracking.runs import parse_param

    assert parse_param("na") is None
    assert parse_param("[128, 512]") == (128, 512)
    assert parse_param('["db", "pcen"]') == ("db", "pcen")
    assert parse_param("512") == 512 and isinstance(parse_param("512"), int)
    assert parse_param("0.1") == 0.1
    assert parse_param("True") is True and parse_param("false") is False
    assert parse_param("mel") == "mel"


def test_paired_differences_match_a_hand_computation(store):
    """Every comparison's differences equal the per-configuration seed means computed here from
    the logged metrics, and the tied (hop, image size) factor is compared jointly."""
    from runner.tracking import runs

    table = runs.read_sweep(runs.connect(store["uri"]), "merlin")
    configs = summarise(table)
    assert factors(configs, SWEPT) == [
        ("frontend.win_length",),
        ("frontend.scale",),
        ("frontend.image_size",),
        ("frontend.hop_length", "frontend.image_size"),
    ]
    mean = {}
    for cfg in merlin_grid():
        for s in SETS:
            mean[(trial_name(cfg), s)] = np.mean(
                [plausible_result(cfg, s, seed)[0] for seed in (0, 1)]
            )
    by_name = {t.cfg_key: t.name for t in table.trials}
    comps = comparisons(configs, SWEPT, "test")
    scale = [c for c in comps if c.keys == ("frontend.scale",)]
    assert len(scale) == 1 and scale[0].winner == ("mel",) and len(scale[0].diffs) == 6
    for c in comps:
        for (a, b), d in zip(c.pairs, c.diffs):
            assert d == pytest.approx(mean[(by_name[a], "test")] - mean[(by_name[b], "test")])
    # Two seeds: the replicates are the 6 pairs x 2 seeds paired differences, whose mean is the
    # mean of the pairs' differences; the grid was generated with mel ahead by ~0.04.
    expected = np.mean(scale[0].diffs)
    assert len(scale[0].replicates) == 12 and scale[0].mean == pytest.approx(expected)
    assert scale[0].significant
    assert comparison_sentence(scale[0], SWEPT).startswith(
        f"mel beat linear: {expected:+.3f} MAP ["
    )
    assert f"{scale[0].wins} of 12 paired comparisons (sign-flip p" in comparison_sentence(
        scale[0], SWEPT
    )
    sigma = seed_std(configs, "test")
    assert 0.003 < sigma < 0.03  # generated with std 0.010
