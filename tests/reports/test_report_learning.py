"""The report's "did it learn?" warning, on tables built by hand (reports/ never imports MLflow)."""

from __future__ import annotations

from reports import write_report
from reports.analysis import summarise
from reports.learning import learning_warning
from reports.table import SweepTable, Trial


def _trial(scale: str, seed: int, map_test: float, learned: float | None) -> Trial:
    metrics = {"map_test": map_test, "prior_map_test": 0.02, "train_time_s": 10.0}
    if learned is not None:
        metrics["learned"] = learned
    return Trial(
        run_id=f"{scale}{seed}",
        name=scale,
        cfg_key=scale,
        seed=seed,
        status="finished",
        swept={"frontend.scale": scale},
        map={"test": map_test},
        train_time_s=10.0,
        metrics=metrics,
    )


def _table(*trials: Trial) -> SweepTable:
    return SweepTable("s", ("frontend.scale",), ("test",), tuple(trials))


def test_warning_when_no_configuration_learned(tmp_path):
    table = _table(
        _trial("mel", 0, 0.046, 0.0), _trial("mel", 1, 0.046, 0.0), _trial("linear", 0, 0.03, 0.0)
    )
    text = learning_warning(table, summarise(table), "test")
    assert text.startswith("No configuration learned much: best MAP on test 0.046 = 2.3x the label")
    assert "3 of 3 finished trials are tagged learned=no" in text
    write_report(table, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert md.index("WARNING: No configuration learned much") < md.index("Takeaways")
    assert "WARNING: No configuration" in (tmp_path / "report.html").read_text()


def test_warning_when_the_best_configuration_did_not_learn_with_every_seed():
    table = _table(
        _trial("mel", 0, 0.2, 1.0), _trial("mel", 1, 0.04, 0.0), _trial("linear", 0, 0.1, 1.0)
    )
    text = learning_warning(table, summarise(table), "test")
    assert text.startswith("The best configuration did not learn with every seed")


def test_no_warning_when_the_best_configuration_learned_or_runs_predate_the_tag(tmp_path):
    learned = _table(_trial("mel", 0, 0.3, 1.0), _trial("linear", 0, 0.03, 0.0))
    assert learning_warning(learned, summarise(learned), "test") is None
    old = _table(_trial("mel", 0, 0.3, None), _trial("linear", 0, 0.2, None))
    assert learning_warning(old, summarise(old), "test") is None
    write_report(learned, tmp_path)
    assert "WARNING" not in (tmp_path / "report.md").read_text()
