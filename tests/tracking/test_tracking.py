"""MLflow layout helpers: param formatting, and a fresh SQLite store shared by parallel trials."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from mlflow import MlflowClient

from frontends import FrontendConfig
from runner.tracking.trial_runs import flatten_config, format_param, per_class_csv


def test_param_formatting():
    assert format_param(None) == "na"
    assert format_param((128, 512)) == "[128, 512]"
    assert format_param(("db", "pcen")) == '["db", "pcen"]'
    assert format_param(True) == "true" and format_param(0.025) == "0.025"
    assert format_param({"global_pool": "max"}) == '{"global_pool": "max"}'
    flat = flatten_config(FrontendConfig(image_size=(128, 512)))
    assert flat["image_size"] == "[128, 512]" and flat["f_max"] == "na"
    assert "pcen.smoothing" in flat and "pcen" not in flat


def test_per_class_csv():
    import numpy as np

    text = per_class_csv(("a", "b,c"), np.array([0.5, np.nan]), np.array([3, 0]))
    assert text == 'class,ap,n_positive\na,0.500000,3\n"b,c",nan,0\n'


@pytest.mark.slow
def test_parallel_trials_can_share_a_fresh_sqlite_store(tmp_path):
    """MLflow builds a new SQLite store's tables on first use; trials starting together must not
    race to do it (it failed with 'table ... already exists' before the lock)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = textwrap.dedent(f"""
        from mlflow import MlflowClient
        from runner.tracking.trial_runs import get_or_create_experiment, store_lock
        with store_lock({uri!r}):
            client = MlflowClient({uri!r})
            experiment = get_or_create_experiment(client, "shared")
        client.create_run(experiment)
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(e[-1500:] for e in errors)
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("shared").experiment_id])
    assert len(runs) == 3


def test_a_finished_run_is_adopted_not_trained_again(tmp_path):
    """A point whose run ended FINISHED before its supervisor could record it (killed in between)
    is not trained twice: the worker adopts that run, re-tagged with the new Optuna trial."""
    from helpers.tiny_sweep import tiny_sections

    from runner.queue.worker import adopt_finished_run
    from runner.sweep.grid import expand
    from runner.sweep.load import sweep_from_dict
    from runner.tracking.trial_runs import TrialTracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    specs = expand(sweep_from_dict({"name": "adopt", "seeds": 2, **tiny_sections(tmp_path)}))
    spec, other_seed = (
        specs[0],
        next(s for s in specs if s.cfg_key == specs[0].cfg_key and s.seed != specs[0].seed),
    )
    job = {"tracking_uri": uri, "experiment": "adopt", "trial_number": 7}
    assert adopt_finished_run(spec, **job) is None  # no experiment yet

    killed = TrialTracker.start(uri, "adopt", spec, extra_tags={"optuna_trial": 2})
    killed.end("KILLED", "interrupted")
    assert adopt_finished_run(spec, **job) is None  # only a FINISHED run counts

    done = TrialTracker.start(uri, "adopt", spec, extra_tags={"optuna_trial": 3})
    done.log_final({"map_test": 0.5, "train_time_s": 12.0, "epochs": 1.0})
    done.end("FINISHED")
    assert adopt_finished_run(other_seed, **job) is None  # another seed is another point
    result = adopt_finished_run(spec, **job)
    assert result.status == "FINISHED" and result.run_id == done.run_id
    assert result.metrics["map_test"] == 0.5 and result.epochs_done == 1
    tags = MlflowClient(uri).get_run(done.run_id).data.tags
    assert (tags["optuna_trial"], tags["first_optuna_trial"]) == ("7", "3")
    assert (
        len(
            MlflowClient(uri).search_runs(
                [MlflowClient(uri).get_experiment_by_name("adopt").experiment_id]
            )
        )
        == 2
    )
