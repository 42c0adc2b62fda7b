"""The report's numbers and sentences on hand-built tables whose answers are worked out by hand.

Pure: no MLflow. `tests/reports/test_report.py` covers reading the same kind of table from real runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports import SweepTable, Trial, comparisons, figures, pareto_front, seed_std, summarise
from reports.analysis import factors, within_noise_of_best
from reports.findings import comparison_sentence
from reports.labels import config_label, level_text, value_text

KEYS = ("frontend.win_length", "frontend.scale")


def table_of(rows, keys=KEYS, sets=("test",), status="finished") -> SweepTable:
    """rows: (swept values, seed, {set: map}, train_time_s)."""
    trials = []
    for i, (values, seed, maps, time_s) in enumerate(rows):
        swept = dict(zip(keys, values))
        trials.append(
            Trial(
                run_id=f"run{i}",
                name="-".join(str(v) for v in values),
                cfg_key="k-" + "-".join(str(v) for v in values),
                seed=seed,
                status=status,
                swept=swept,
                map=maps,
                train_time_s=time_s,
            )
        )
    return SweepTable("hand", keys, sets, tuple(trials))


# (win_length, scale) -> MAP on test, training time: mel wins by 0.05 and 0.04, the longer window
# by 0.02 and 0.01; mel costs 10 % more time.
HAND = [
    ((256, "linear"), 0, {"test": 0.60}, 100.0),
    ((256, "mel"), 0, {"test": 0.65}, 110.0),
    ((512, "linear"), 0, {"test": 0.62}, 100.0),
    ((512, "mel"), 0, {"test": 0.66}, 110.0),
]


def test_statements_on_a_hand_built_grid():
    table = table_of(HAND)
    configs = summarise(table)
    comps = {c.keys: c for c in comparisons(configs, KEYS, "test")}
    # One seed: what was seen, never called a difference (tests/reports/test_report_stats.py has the
    # statistics with seeds); the report says once, above the takeaways, that the noise is unknown.
    assert comparison_sentence(comps[("frontend.scale",)], KEYS) == (
        "mel ahead of linear in 2 of 2 pairs, +0.045 MAP (range +0.040 to +0.050), "
        "at 1.10× the training time."
    )
    assert comparison_sentence(comps[("frontend.win_length",)], KEYS).startswith(
        "win_length=512 ahead of win_length=256 in 2 of 2 pairs, +0.015 MAP (range +0.010 to +0.020)"
    )


def test_a_split_verdict_and_a_three_level_factor():
    # compression x window; pcen beats db on the short window only, exp loses everywhere.
    keys = ("frontend.compression", "frontend.win_length")
    rows = [
        (("db", 256), 0, {"test": 0.70}, 60.0),
        (("pcen", 256), 0, {"test": 0.73}, 90.0),
        (("exp", 256), 0, {"test": 0.66}, 60.0),
        (("db", 512), 0, {"test": 0.72}, 60.0),
        (("pcen", 512), 0, {"test": 0.71}, 90.0),
        (("exp", 512), 0, {"test": 0.69}, 60.0),
    ]
    configs = summarise(table_of(rows, keys))
    sentences = [comparison_sentence(c, keys) for c in comparisons(configs, keys, "test")]
    one_seed = "."  # the one-seed note is the report's, said once (test_the_one_seed_note_...)
    assert (
        "pcen ahead of db in 1 of 2 pairs, +0.010 MAP (range -0.010 to +0.030), at 1.50× the "
        "training time" + one_seed in sentences
    )
    assert (
        "db ahead of exp in 2 of 2 pairs, +0.035 MAP (range +0.030 to +0.040), at 1.00× the "
        "training time" + one_seed in sentences
    )
    assert (
        "pcen ahead of exp in 2 of 2 pairs, +0.045 MAP (range +0.020 to +0.070), at 1.50× the "
        "training time" + one_seed in sentences
    )
    assert len(sentences) == 3 + 1  # three compression pairs, one window pair


def test_one_pair_reads_without_a_range():
    rows = HAND[:2]
    (comp,) = comparisons(summarise(table_of(rows)), KEYS, "test")
    assert (
        comparison_sentence(comp, KEYS)
        == "mel ahead of linear in 1 of 1 pair, +0.050 MAP, at 1.10× the training time."
    )


def test_seed_std_is_the_pooled_sample_std():
    rows = [
        ((256, "mel"), 0, {"test": 0.70}, 10.0),
        ((256, "mel"), 1, {"test": 0.72}, 12.0),
        ((512, "mel"), 0, {"test": 0.60}, 10.0),
        ((512, "mel"), 1, {"test": 0.64}, 10.0),
        ((512, "linear"), 0, {"test": 0.50}, 10.0),  # one seed: no spread to pool
    ]
    configs = summarise(table_of(rows))
    # sample variances 0.0002 and 0.0008, one degree of freedom each
    assert seed_std(configs, "test") == pytest.approx(math.sqrt(0.0005))
    by_label = {c.label: c for c in configs}
    assert by_label["win_length=256, mel"].map_std("test") == pytest.approx(
        np.std([0.70, 0.72], ddof=1)
    )
    assert by_label["win_length=512, linear"].map_std("test") is None
    assert seed_std(summarise(table_of(HAND)), "test") is None
    tied = within_noise_of_best(configs, "test", 0.15)
    assert [c.label for c in tied] == ["win_length=256, mel", "win_length=512, mel"]


def test_pareto_front_keeps_only_unbeaten_configurations():
    rows = [
        ((1, "a"), 0, {"test": 0.50}, 10.0),  # fastest: on the front
        ((2, "a"), 0, {"test": 0.45}, 20.0),  # slower and worse than (1, a)
        ((3, "a"), 0, {"test": 0.70}, 30.0),  # better: on the front
        ((4, "a"), 0, {"test": 0.70}, 40.0),  # as good but slower
        ((5, "a"), 0, {"test": 0.80}, 90.0),  # best: on the front
    ]
    configs = summarise(table_of(rows))
    assert pareto_front(configs, "test") == ["k-1-a", "k-3-a", "k-5-a"]


def test_unfinished_trials_do_not_count():
    table = table_of(HAND)
    running = Trial("r9", "x", "k-256-linear", 1, "running", {KEYS[0]: 256, KEYS[1]: "linear"})
    failed = Trial(
        "r8",
        "y",
        "k-512-mel",
        1,
        "failed",
        {KEYS[0]: 512, KEYS[1]: "mel"},
        map={"test": 0.1},
        train_time_s=1.0,
        reason="nan_loss",
    )
    table = SweepTable("hand", KEYS, ("test",), (*table.trials, running, failed))
    assert [len(c.seeds) for c in summarise(table)] == [1, 1, 1, 1]
    assert table.status_counts() == {"finished": 4, "running": 1, "failed": 1}


def test_tied_keys_are_compared_together():
    # hop 64 only ever comes with 128x1024: hop alone never varies, so (hop, size) is a factor.
    keys = ("frontend.hop_length", "frontend.image_size")
    rows = [
        ((64, (128, 1024)), 0, {"test": 0.6}, 80.0),
        ((128, (128, 512)), 0, {"test": 0.7}, 40.0),
        ((128, (96, 512)), 0, {"test": 0.68}, 30.0),
    ]
    configs = summarise(table_of(rows, keys))
    assert factors(configs, keys) == [("frontend.image_size",), keys]
    sentences = [comparison_sentence(c, keys) for c in comparisons(configs, keys, "test")]
    assert sentences[0].startswith("image_size=128×512 ahead of image_size=96×512 in 1 of 1 pair")
    assert (
        "hop_length=128, image_size=128×512 ahead of hop_length=64, image_size=128×1024"
        in sentences[2]
    )


def test_labels_read_like_the_sweep_file():
    assert value_text((128, 512)) == "128×512"
    assert value_text(("db", "pcen", "exp")) == "db+pcen+exp"
    assert value_text(None) == "none" and value_text(True) == "true"
    assert level_text("frontend.scale", "mel", KEYS) == "mel"
    assert level_text("frontend.win_length", 512, KEYS) == "win_length=512"
    keys = ("frontend.pcen.per_band", "frontend.exp.per_band", "frontend.compression")
    assert config_label({keys[0]: True, keys[1]: False, keys[2]: "pcen"}, keys) == (
        "pcen.per_band, pcen"
    )


def test_figures_have_one_panel_per_evaluation_set_and_skip_what_does_not_apply():
    two_sets = [(v, s, {"test": m["test"], "field": m["test"] - 0.3}, t) for v, s, m, t in HAND]
    table = table_of(two_sets, sets=("test", "field"))
    configs = summarise(table)
    fig = figures.map_vs_time(configs, KEYS, ("test", "field"))
    assert [ax.get_ylabel() for ax in fig.axes] == ["MAP on test", "MAP on field"]
    # No compression swept, one seed, no previews: those figures do not apply.
    assert figures.frontend_comparison(configs, KEYS, ("test",)) is None
    assert figures.seed_noise(configs, ("test",), {"test": None}) is None
    assert figures.gallery([]) is None
    image = np.random.default_rng(0).random((16, 40), dtype=np.float32)
    fig = figures.gallery([("rgb", np.stack([image] * 3)), ("mix", np.stack([image, 1 - image]))])
    titles = [ax.get_title() for ax in fig.axes]
    assert "one channel repeated" in titles[0] and "channels top to bottom" in titles[1]
    keys = ("frontend.compression",)
    rows = [((c,), 0, {"test": m}, 60.0) for c, m in (("db", 0.7), ("pcen", 0.72), ("exp", 0.69))]
    configs = summarise(table_of(rows, keys))
    fig = figures.frontend_comparison(configs, keys, ("test",))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["exp", "db", "pcen"]  # best at the top


def test_write_report_on_a_table_without_mlflow(tmp_path):
    from reports import write_report

    rng = np.random.default_rng(0)
    previews = {f"k-{w}-{s}": rng.random((3, 16, 40), dtype=np.float32) for (w, s), *_ in HAND}
    table = table_of(HAND)
    table = SweepTable("hand", KEYS, ("test",), table.trials, previews=previews)
    files = write_report(table, tmp_path)
    names = sorted(p.name for p in files)
    assert names == sorted(
        [
            "report.html",
            "report.md",
            "map_vs_time.png",
            "factor_effects.png",
            "gallery.png",
            "table.csv",
        ]
    )
    assert all(p.stat().st_size > 0 for p in files)
    md = (tmp_path / "report.md").read_text()
    assert "mel ahead of linear in 2 of 2 pairs, +0.045 MAP (range +0.040 to +0.050)" in md
    assert "1 seed: the seed-to-seed noise is not estimated" in md
    assert "Not estimated" in md and "Not drawn: no run logged a val_map metric yet." in md
    with pytest.raises(ValueError, match="no trials"):
        write_report(SweepTable("e", KEYS, ("test",), ()), tmp_path)


def test_a_sweep_with_nothing_finished_yet_still_reports(tmp_path):
    from reports import write_report

    running = [
        Trial(
            f"r{i}",
            f"t{i}",
            f"k{i}",
            0,
            "running",
            {KEYS[0]: 256, KEYS[1]: s},
            curves={"test": ((1, 0.3), (2, 0.4))},
        )
        for i, s in enumerate(("mel", "linear"))
    ]
    files = write_report(SweepTable("early", KEYS, ("test",), tuple(running)), tmp_path)
    assert sorted(p.name for p in files) == [
        "report.html",
        "report.md",
        "table.csv",
        "training_curves.png",
    ]
    md = (tmp_path / "report.md").read_text()
    assert "No trial has finished yet" in md and "2 running" in md
