"""The inference cost of a configuration: measured on a real scorer (more pixels cost more), once
per configuration at the end of a trial, in table.csv, and drawn by the report."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import yaml
from helpers.tiny_model import tiny_scorer
from helpers.tiny_sweep import tiny_sections

from runner.train.inference_cost import COST_METRICS, LATENCY, measure


def test_bigger_images_cost_more():
    small = measure(tiny_scorer("db", image_size=(32, 48)), batch_size=4, device="cpu")
    large = measure(tiny_scorer("db", image_size=(128, 192)), batch_size=4, device="cpu")
    assert set(small) == set(COST_METRICS)
    assert all(v > 0 for v in small.values()), small
    assert small["infer_params"] == large["infer_params"]  # same backbone, more pixels
    assert large["infer_macs_per_clip"] > 10 * small["infer_macs_per_clip"]  # 16x the pixels
    assert large[LATENCY] > 1.5 * small[LATENCY], (small[LATENCY], large[LATENCY])
    assert large["infer_peak_mb"] > small["infer_peak_mb"]


@pytest.mark.slow
def test_a_sweep_measures_each_configuration_once_and_the_report_draws_it(tmp_path):
    from mlflow import MlflowClient

    from runner.cli import main
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep
    from runner.train.trial import run_trial

    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        sections = tiny_sections(tmp_path / "data")
        # test_resnet: compute-bound at batch 1 (a mobilenet's per-layer overhead at batch 1
        # outweighs its convolutions at these sizes: its latency barely moves with the image)
        sections["model"]["name"] = "test_resnet"
        sections["grid"] = {"axes": {"frontend.image_size": [[32, 64], [192, 384]]}}
        sweep_file = tmp_path / "cost.yaml"
        sweep_file.write_text(yaml.safe_dump({"name": "cost", "seeds": 2, **sections}))
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        for spec in expand(load_sweep(sweep_file)):
            assert run_trial(spec, tracking_uri=uri, log_model="none", threads=1).finished
        code = main(["report", "--experiment", "cost", "--tracking-uri", uri, "--out", "out"])
        assert code == 0
    finally:
        os.chdir(cwd)
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("cost")
    runs = client.search_runs([exp.experiment_id], "tags.`specsweep.kind` = 'trial'")
    measured = [r for r in runs if LATENCY in r.data.metrics]
    assert len(runs) == 4 and len(measured) == 2  # once per configuration
    assert len({r.data.tags["cfg_key"] for r in measured}) == 2
    out = tmp_path / "out"
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert set(COST_METRICS) <= set(rows[0])
    by_size = {
        r["frontend.image_size"]: float(r[LATENCY]) for r in rows if r[LATENCY] not in ("", None)
    }
    small, large = sorted(by_size.items(), key=lambda kv: len(kv[0]))  # "[32, 64]" is shorter
    assert large[1] > 1.5 * small[1], by_size
    assert (out / "map_vs_cost.png").is_file()
    assert "MAP vs inference cost" in (out / "report.md").read_text()
