"""A logged model's pyfunc: what `mlflow.pyfunc.load_model` and `mlflow models serve` answer with.

    model = mlflow.pyfunc.load_model("runs:/<run id>/model")
    table = model.predict(waveform)     # pandas DataFrame: clip, start_s, end_s, one column per class

The MLflow model's `python_function` flavour names this module as its loader (its copy inside the
model, runner/tracking/bundle.py), so the pyfunc needs torch, numpy and pandas, not specsweep.
It takes what a user has at hand and says what it cannot take:

- float32 or float64 samples in [-1, 1] (cast to float32, as the model computes);
- one signal `(samples,)`, a batch `(n, samples)`, a DataFrame or list with one signal per row;
- signals of the model's clip length are one window each; any other length is cut into windows
  of the clip length every clip length, plus one flush with the end (a signal shorter than a
  clip is one window, centred in zeros), exactly as `specsweep predict` cuts a recording.

One row per window: `clip` (which input signal), `start_s`, `end_s`, then the probability of each
class under its name. The waveform must be mono at the model's sample rate (its metadata says it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .windows import padded, sliding_windows

BATCH = 64  # windows per forward pass
MODEL_FILE = "model.pth"  # where mlflow.pytorch keeps the pickled module in the model's data/


def _load_pyfunc(path: str, model_config=None) -> ScorerPyfunc:
    """MLflow's pyfunc loader hook: `path` is the model's data folder (mlflow.pytorch's layout)."""
    file = Path(path) / MODEL_FILE if Path(path).is_dir() else Path(path)
    # Our own file, pickled by mlflow.pytorch (cloudpickle by reference: plain pickle reads it).
    scorer = torch.load(file, map_location="cpu", weights_only=False)
    return ScorerPyfunc(scorer.eval())


class ScorerPyfunc:
    """`predict(waveforms) -> DataFrame` around a ClipScorer (see the module docstring)."""

    def __init__(self, scorer):
        self.scorer = scorer

    def predict(self, model_input, params=None):
        import pandas as pd

        scorer = self.scorer
        signals = to_signals(model_input)
        clip, rate = scorer.clip_samples, scorer.sample_rate
        owners, starts, ends, windows = [], [], [], []
        for index, signal in enumerate(signals):
            for start, window in sliding_windows([signal], clip, clip):
                owners.append(index)
                starts.append(start / rate)
                ends.append(min(start + clip, signal.size) / rate)
                windows.append(padded(window, clip))
        scores = np.zeros((0, len(scorer.classes)), dtype=np.float32)
        with torch.inference_mode():
            parts = [
                scorer(torch.from_numpy(np.stack(windows[i : i + BATCH]))).numpy()
                for i in range(0, len(windows), BATCH)
            ]
        if parts:
            scores = np.concatenate(parts)
        table = pd.DataFrame({"clip": owners, "start_s": starts, "end_s": ends})
        names = pd.DataFrame(scores, columns=list(scorer.classes))
        return pd.concat([table, names], axis=1)

    def unwrap_python_model(self):
        return self.scorer


def to_signals(model_input) -> list[np.ndarray]:
    """The input as a list of 1-D float32 signals; ValueError naming what is wrong."""
    if hasattr(model_input, "to_numpy") and hasattr(model_input, "columns"):  # a DataFrame
        rows = model_input.to_numpy()
        if rows.dtype == object:  # a column of arrays: one signal per row
            return [_signal(np.asarray(row[0] if row.size == 1 else row)) for row in rows]
        return [_signal(row) for row in rows]
    if isinstance(model_input, dict):
        if len(model_input) != 1:
            raise ValueError(
                f"waveform: got a dict of {len(model_input)} inputs; send one array of samples"
            )
        model_input = next(iter(model_input.values()))
    if isinstance(model_input, torch.Tensor):
        model_input = model_input.detach().cpu().numpy()
    array = np.asarray(model_input) if not isinstance(model_input, list) else None
    if array is None or array.dtype == object:  # a list, possibly of signals of other lengths
        items = list(model_input)
        if items and all(np.ndim(item) == 0 for item in items):
            return [_signal(np.asarray(items))]
        return [_signal(np.asarray(item)) for item in items]
    if array.ndim == 1:
        return [_signal(array)]
    if array.ndim == 2:
        return [_signal(row) for row in array]
    raise ValueError(
        f"waveform: shape {array.shape} is not (samples,) or (n, samples); mix the audio down to "
        "mono and send one signal or a batch of them"
    )


def _signal(array: np.ndarray) -> np.ndarray:
    if array.ndim != 1:
        raise ValueError(f"waveform: a signal of shape {array.shape}; each signal must be 1-D")
    if array.dtype.kind != "f":
        raise ValueError(
            f"waveform: dtype {array.dtype} is not floating point; send samples in [-1, 1] "
            "(int16 audio as x / 32768)"
        )
    if array.size == 0:
        raise ValueError("waveform: an empty signal; send at least one sample")
    signal = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(signal).all():
        raise ValueError("waveform: a signal holds NaN or inf samples; clean it first")
    return signal
