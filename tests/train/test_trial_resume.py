"""A trial stopped part-way resumes from its checkpoint and ends as an uninterrupted run would;
the run its dead attempt left RUNNING is ended KILLED `interrupted` (tiny trial of
`helpers.tiny_trial`).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from helpers.tiny_trial import tiny_spec, uri
from mlflow import MlflowClient

from runner.train.checkpoint import checkpoint_dir, load_checkpoint
from runner.train.trial import run_trial

pytestmark = pytest.mark.usefixtures("in_tmp")

# --------------------------------------------------------------------------- preemption


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path, data_dir):
    spec = tiny_spec(tmp_path, data_dir, epochs=3)
    straight = run_trial(
        spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, checkpoint_root=tmp_path / "a"
    )
    assert straight.finished

    def preempt(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would, after epoch 2's checkpoint

    with pytest.raises(KeyboardInterrupt):
        run_trial(
            spec, tracking_uri=uri(tmp_path), device="cpu", threads=1,
            checkpoint_root=tmp_path / "b", epoch_callback=preempt,
        )  # fmt: skip
    client = MlflowClient(uri(tmp_path))
    first = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id],
        filter_string="attributes.status = 'KILLED'",
    )
    assert len(first) == 1 and first[0].data.tags["reason"] == "interrupted"
    assert load_checkpoint(checkpoint_dir(tmp_path / "b", "tiny", spec.cfg_key, 0))["epoch"] == 2

    resumed = run_trial(
        spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, checkpoint_root=tmp_path / "b",
        attempt=2,
    )  # fmt: skip
    assert resumed.finished and resumed.resumed_from_epoch == 2
    for key in ("map_test", "map_field", "micro_ap_test"):
        assert resumed.metrics[key] == straight.metrics[key], key
    losses = [e["metrics"]["train_loss"] for e in resumed.history]
    assert losses == [e["metrics"]["train_loss"] for e in straight.history]
    # The new run holds all three epochs' curves, including the ones the first attempt trained.
    steps = [m.step for m in client.get_metric_history(resumed.run_id, "train_loss")]
    assert steps == [1, 2, 3]
    assert client.get_run(resumed.run_id).data.tags["resumed_from_epoch"] == "2"


@pytest.mark.slow
def test_a_dead_attempts_run_is_marked_interrupted_on_resume(tmp_path, data_dir):
    """A process killed hard (no chance to end its run) leaves it RUNNING; the resume ends it."""
    spec = tiny_spec(tmp_path, data_dir, epochs=2)
    script = textwrap.dedent(f"""
        import os
        from runner.sweep.load import load_sweep
        from runner.sweep.grid import expand
        from runner.train.trial import run_trial
        spec = expand(load_sweep({str(tmp_path / "tiny.yaml")!r}))[0]
        run_trial(spec, tracking_uri={uri(tmp_path)!r}, device="cpu", threads=1,
                  epoch_callback=lambda e, m: os._exit(9))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 9, proc.stderr[-2000:]
    client = MlflowClient(uri(tmp_path))
    experiment = client.get_experiment_by_name("tiny").experiment_id
    (dead,) = client.search_runs([experiment])
    assert dead.info.status == "RUNNING"

    result = run_trial(spec, tracking_uri=uri(tmp_path), device="cpu", threads=1, attempt=2)
    assert result.finished and result.resumed_from_epoch == 1
    dead = client.get_run(dead.info.run_id)
    assert dead.info.status == "KILLED" and dead.data.tags["reason"] == "interrupted"
    assert dead.data.tags["resumed_by"] == result.run_id
