"""ONNX export with the frontend inside, for every compression and a 3-channel mix: onnxruntime
agrees with torch on random and synthetic-bird clips; the frontend's input check still raises
in eager use while the export skips it."""

from __future__ import annotations

import pytest
import torch
from helpers.tiny_model import SR, tiny_scorer

from runner.tracking import onnx_export

COMPRESSIONS = [
    "pcen",
    pytest.param("db", marks=pytest.mark.slow),
    pytest.param("exp", marks=pytest.mark.slow),
    pytest.param(("db", "exp", "pcen"), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_onnx_agrees_with_torch(compression, tmp_path):
    scorer = tiny_scorer(compression)
    path = onnx_export.export_onnx(scorer, tmp_path / "m.onnx")
    agreement = onnx_export.check_onnx(path, scorer)
    assert agreement.ok, agreement.line()
    assert agreement.n_random == 3 and agreement.n_bird == 4


def test_eager_use_still_refuses_nan_in_one_line():
    scorer = tiny_scorer("db")
    bad = torch.zeros(2, SR)
    bad[1, 5] = float("nan")
    with pytest.raises(
        ValueError, match=r"1 of 2 clips contain NaN or inf samples \(clip indices \[1\]\)"
    ):
        scorer(bad)


def test_tracking_onnx_needs_a_logged_model():
    from runner.sweep.config import TrackingConfig

    assert TrackingConfig(onnx=True).onnx
    with pytest.raises(ValueError, match="onnx: true needs a logged model"):
        TrackingConfig(log_model="none", onnx=True)
