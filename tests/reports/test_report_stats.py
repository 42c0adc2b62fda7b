"""Seed-aware statistics on hand-built tables where the answer is known: a planted effect is
found, pure noise is not called a win more often than the 5% level allows, one seed is never
called significant; the t and sign-flip machinery against references; frontend vs dB paired by
seed. Pure: no MLflow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reports import SweepTable, Trial, comparisons, figures, summarise, write_report
from reports.analysis import versus_baseline
from reports.findings import comparison_sentence, cost_text
from reports.stats import paired_test, sign_flip_p, t_cdf, t_interval, t_quantile

KEYS = ("frontend.win_length", "frontend.scale")


def grid_table(effect, noise, seeds, rng, seed_noise=0.0, sets=("test",), time_s=None):
    """A 2 x 2 grid (window x scale) where mel adds `effect` MAP; each trial gets independent
    noise, and each seed a shared offset (what pairing by seed removes)."""
    offsets = {s: rng.normal(0, seed_noise) for s in seeds}
    trials = []
    for win, scale in itertools.product((256, 512), ("linear", "mel")):
        for s in seeds:
            maps = {
                e: 0.6 + (effect if scale == "mel" else 0.0) + offsets[s] + rng.normal(0, noise)
                for e in sets
            }
            trials.append(
                Trial(
                    run_id=f"{win}-{scale}-{s}",
                    name=f"w{win}-{scale}",
                    cfg_key=f"k{win}{scale}",
                    seed=s,
                    status="finished",
                    swept={KEYS[0]: win, KEYS[1]: scale},
                    map=maps,
                    train_time_s=(time_s or {}).get(scale, 100.0),
                )
            )
    return SweepTable("sim", KEYS, sets, tuple(trials))


def scale_comparison(table, eval_set="test"):
    (comp,) = [c for c in comparisons(summarise(table), KEYS, eval_set) if c.keys == KEYS[1:]]
    return comp


def test_a_planted_effect_is_found_with_the_interval_excluding_zero():
    rng = np.random.default_rng(1)
    table = grid_table(effect=0.05, noise=0.01, seeds=range(5), rng=rng, seed_noise=0.02)
    comp = scale_comparison(table)
    test = comp.test
    assert comp.winner == ("mel",) and test.n == 10  # 2 pairs x 5 seeds
    assert test.significant and 0 < test.low < 0.05 < test.high < 0.07
    assert test.p_value == pytest.approx(2 / 2**10)  # all ten positive: the smallest p there is
    sentence = comparison_sentence(comp, KEYS)
    assert sentence.startswith(f"mel beat linear: {test.mean:+.3f} MAP [{test.low:+.3f}, ")
    assert "10 of 10 paired comparisons (sign-flip p = 0.002)" in sentence


def test_pure_noise_is_called_a_win_in_about_5_percent_of_sweeps():
    rng = np.random.default_rng(2026)
    called, p_below = 0, 0
    for _ in range(200):
        table = grid_table(effect=0.0, noise=0.01, seeds=range(3), rng=rng, seed_noise=0.01)
        test = scale_comparison(table).test
        called += test.significant
        p_below += test.p_value < 0.05
    # Expected 10 of 200 at the 5% level (binomial sd ~3): allow sampling error, not a bias.
    assert called <= 18, called
    assert p_below <= 18, p_below
    assert called >= 3  # and the test is not simply blind


def test_one_seed_is_never_called_significant():
    rng = np.random.default_rng(3)
    table = grid_table(effect=0.2, noise=0.001, seeds=[0], rng=rng)
    comp = scale_comparison(table)
    assert comp.winner == ("mel",) and not comp.test.noise_estimated
    assert not comp.significant and comp.test.low is None and comp.test.p_value is None
    assert comparison_sentence(comp, KEYS).startswith("mel ahead of linear in 2 of 2 pairs, +0.2")
    assert comparison_sentence(comp, KEYS).endswith(
        "× the training time."
    )  # no verdict, no interval
    assert "beat" not in comparison_sentence(comp, KEYS) and "[" not in comparison_sentence(
        comp, KEYS
    )
    fig = figures.factor_effects({"test": [comp]}, KEYS)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "1 seed: noise not estimated (bar: range)" in legend
    assert not any("excludes 0" in text for text in legend)


def test_no_clear_difference_reads_as_such():
    # Hand-made paired differences: +0.02, -0.01, +0.03, -0.02 over two pairs x two seeds.
    rows = {
        ("linear", 256): (0.60, 0.62),
        ("mel", 256): (0.62, 0.61),
        ("linear", 512): (0.60, 0.64),
        ("mel", 512): (0.63, 0.62),
    }
    trials = []
    for (scale, win), maps in rows.items():
        for s, m in enumerate(maps):
            trials.append(
                Trial(
                    f"{scale}{win}{s}",
                    f"{scale}{win}",
                    f"k{scale}{win}",
                    s,
                    "finished",
                    {KEYS[0]: win, KEYS[1]: scale},
                    {"test": m},
                    100.0,
                )
            )
    comp = scale_comparison(SweepTable("hand", KEYS, ("test",), tuple(trials)))
    assert sorted(comp.replicates) == pytest.approx([-0.02, -0.01, 0.02, 0.03])
    low, high = t_interval([0.02, -0.01, 0.03, -0.02])
    assert comparison_sentence(comp, KEYS) == (
        f"no clear difference between mel and linear: +0.005 MAP [{low:+.3f}, {high:+.3f}], mel "
        "won 2 of 4 paired comparisons (sign-flip p = 0.88, the smallest possible with 4 is "
        "0.12), at 1.00× the training time."
    )


def test_t_distribution_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 4, 9, 30, 200):
        assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9)
        for t in (-3.0, -0.4, 0.0, 1.7):
            assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-12)
    d = [0.03, 0.01, 0.04, -0.005, 0.02]
    low, high = t_interval(d)
    ref = stats.t.interval(0.95, len(d) - 1, loc=np.mean(d), scale=stats.sem(d))
    assert (low, high) == pytest.approx(ref, rel=1e-9)


def test_sign_flip_p_is_exact_and_samples_beyond_twenty():
    d = np.array([0.04, 0.05, -0.03, 0.06, 0.01, -0.01, 0.02])
    signs = np.array(list(itertools.product((-1, 1), repeat=d.size)))
    brute = np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12)
    assert sign_flip_p(d) == (pytest.approx(brute), True)
    many = np.random.default_rng(0).normal(0.3, 1.0, size=30)
    p, exact = sign_flip_p(many)
    assert not exact
    stats = pytest.importorskip("scipy.stats")
    assert p == pytest.approx(stats.ttest_1samp(many, 0).pvalue, abs=0.03)
    assert paired_test([0.1], noise_estimated=True).low is None  # one difference: no interval


def frontend_table(with_params=True):
    """db / pcen / pcen per band x 3 seeds, PCEN slower by known per-seed factors."""
    keys = ("frontend.compression", "frontend.pcen.per_band")
    maps = {
        ("db", False): ((0.60, 0.40), (0.62, 0.41), (0.61, 0.39)),
        ("pcen", False): ((0.62, 0.45), (0.645, 0.47), (0.625, 0.44)),
        ("pcen", True): ((0.60, 0.41), (0.63, 0.40), (0.60, 0.40)),
    }
    names = {("db", False): "db", ("pcen", False): "pcen", ("pcen", True): "pcen-perband"}
    times = {("db", False): (100, 110, 90), ("pcen", False): (150, 154, 117)}
    times[("pcen", True)] = (120, 132, 108)
    trials = []
    for level, per_seed in maps.items():
        for seed, (test, field) in enumerate(per_seed):
            params = {}
            if with_params and level[0] == "pcen":
                n = 4 if level[1] else 1
                values = {p: [0.5 + 0.01 * seed] * n for p in ("gain", "power")}
                params = {
                    "band_hz": [100.0, 1000.0, 3000.0, 8000.0],
                    "compressions": {
                        "pcen": {
                            "learnable": True,
                            "values": values,
                            "initial": {"gain": 0.5, "power": 0.5},
                        }
                    },
                }
            trials.append(
                Trial(
                    f"{level}{seed}",
                    names[level],
                    f"k{level}",
                    seed,
                    "finished",
                    dict(zip(keys, level)),
                    {"test": test, "field": field},
                    float(times[level][seed]),
                    frontend_params=params,
                )
            )
    return SweepTable("frontends", keys, ("test", "field"), tuple(trials))


def test_each_frontend_against_db_is_paired_by_seed():
    table = frontend_table()
    configs = summarise(table)
    versus = {
        v.config.label: v for v in versus_baseline(configs, table.swept_keys, ("test", "field"))
    }
    assert set(versus) == {"pcen", "pcen-perband"}
    pcen = versus["pcen"]
    assert pcen.seeds == (0, 1, 2)
    assert pcen.time_ratios == pytest.approx((1.5, 1.4, 1.3))
    assert pcen.time_ratio == pytest.approx((1.5 * 1.4 * 1.3) ** (1 / 3))
    assert pcen.map_diffs["test"] == pytest.approx((0.02, 0.025, 0.015))
    assert pcen.map_diffs["field"] == pytest.approx((0.05, 0.06, 0.05))
    assert pcen.test("field").significant
    assert cost_text(pcen) == "1.40× db's training time (1.30–1.50 over 3 seeds)"
    assert not versus["pcen-perband"].test("field").significant


def test_report_has_the_cost_table_and_the_learned_parameters(tmp_path):
    files = {p.name for p in write_report(frontend_table(), tmp_path)}
    assert {"frontends.png", "learned_parameters.png", "factor_effects.png"} <= files
    md = (tmp_path / "report.md").read_text()
    assert "| pcen | 3 | 2.3 min | 1.40 (1.30–1.50) |" in md
    assert "Costliest frontend: pcen at 1.40× db's training time" in md
    assert "the Merlin study: 0.010 on its curated test set" in md
    assert "the Merlin study: 0.017 on SWAMP, its low-SNR field set" in md
    assert "On field: pcen beat db: +0.053 MAP [" in md
    assert "Beyond the seed noise (95% interval excludes 0): pcen." in md
