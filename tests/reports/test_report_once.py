"""The report and the experiment description say each thing once: the one-seed note at the top
(not in every takeaway), each factor sentence in one place, no "see below" (the description has
no below), and no "1.0× faster" when two training times are the same.

Hand-built tables (real `SweepTable`s, no MLflow), written by the real `write_report`.
"""

from __future__ import annotations

import re

from reports import SweepTable, Trial, takeaways, write_report

KEYS = ("frontend.win_length", "frontend.scale")
NOTE = "1 seed: the seed-to-seed noise is not estimated"


def _table(rows, sets=("test", "field")) -> SweepTable:
    """rows: (win_length, scale, seed, {set: MAP}, train_time_s)."""
    trials = tuple(
        Trial(
            run_id=f"run{i}",
            name=f"w{w}-{s}",
            cfg_key=f"k-{w}-{s}",
            seed=seed,
            status="finished",
            swept={"frontend.win_length": w, "frontend.scale": s},
            map=maps,
            train_time_s=time_s,
        )
        for i, (w, s, seed, maps, time_s) in enumerate(rows)
    )
    return SweepTable("once", KEYS, sets, trials)


ONE_SEED = [
    (256, "linear", 0, {"test": 0.60, "field": 0.40}, 100.0),
    (256, "mel", 0, {"test": 0.65, "field": 0.44}, 110.0),
    (512, "linear", 0, {"test": 0.62, "field": 0.41}, 100.0),
    (512, "mel", 0, {"test": 0.66, "field": 0.43}, 110.0),
]


def test_one_seed_note_is_said_once_at_the_top_of_the_takeaways(tmp_path):
    write_report(_table(ONE_SEED), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.count(NOTE) == 1
    assert "noise not estimated" not in md  # the old per-sentence tail
    takeaways_at = md.index("## Takeaways")
    assert takeaways_at < md.index(NOTE) < md.index("Best MAP on test")

    items = takeaways(_table(ONE_SEED))
    assert sum(NOTE in item for item in items) == 1
    assert items[0].startswith("Best MAP on test") and NOTE in items[1]  # the headline stays


def test_with_seeds_there_is_no_note(tmp_path):
    rows = [(w, s, seed, maps, t) for w, s, _, maps, t in ONE_SEED for seed in (0, 1)]
    write_report(_table(rows), tmp_path)
    assert NOTE not in (tmp_path / "report.md").read_text()
    assert not any(NOTE in item for item in takeaways(_table(rows)))


def test_every_factor_sentence_appears_once_and_nothing_points_below(tmp_path):
    write_report(_table(ONE_SEED), tmp_path)
    md = (tmp_path / "report.md").read_text()
    sentences = re.findall(r"^- (On (?:test|field): .*)$", md, flags=re.M)
    assert {s.split(":")[0] for s in sentences} == {"On test", "On field"}
    assert len(sentences) == len(set(sentences)), sentences
    for sentence in sentences:
        assert md.count(sentence) == 1, sentence
    description = takeaways(_table(ONE_SEED))
    assert not any("below" in item for item in description), description
    assert any('in the report\'s "Factor effects" section' in item for item in description)


def test_equal_training_times_are_not_called_faster():
    # On field the front is linear-256 (fastest) and mel-256 (best), both 100 s.
    rows = [
        (256, "linear", 0, {"test": 0.60}, 100.0),
        (256, "mel", 0, {"test": 0.65}, 101.0),
        (512, "mel", 0, {"test": 0.50}, 300.0),
    ]
    items = takeaways(_table(rows, sets=("test",)))
    fastest = [i for i in items if i.startswith("Fastest on the Pareto front")]
    assert len(fastest) == 1
    assert "about as fast as the best" in fastest[0] and "×" not in fastest[0], fastest[0]

    rows[0] = (256, "linear", 0, {"test": 0.60}, 50.0)
    items = takeaways(_table(rows, sets=("test",)))
    assert any("2.0× faster than the best" in i for i in items), items


def test_map_vs_time_labels_a_cluster_of_same_labelled_points_once():
    from reports import figures, summarise

    keys = ("frontend.win_length", "frontend.scale", "frontend.hop_length")  # hop: the label
    rows = [  # four points on top of each other, all hop 128; one far away, also hop 128
        ((256, "linear", 128), 0.600, 100.0),
        ((256, "mel", 128), 0.601, 100.5),
        ((512, "linear", 128), 0.602, 101.0),
        ((512, "mel", 128), 0.600, 100.2),
        ((1024, "mel", 128), 0.800, 400.0),
    ]
    trials = tuple(
        Trial(f"r{i}", f"c{i}", f"k{i}", 0, "finished", dict(zip(keys, v)), {"test": m}, t)
        for i, (v, m, t) in enumerate(rows)
    )
    fig = figures.map_vs_time(summarise(SweepTable("e", keys, ("test",), trials)), keys, ["test"])
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text() == "128"]
    assert len(labels) == 2  # one for the cluster of four, one for the point far away
