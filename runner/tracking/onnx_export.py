"""A scorer as an ONNX file, frontend included: waveform in, probabilities out.

    export_onnx(scorer, "best.onnx")            # torch.onnx.export(dynamo=True), batch axis dynamic
    agreement = check_onnx("best.onnx", scorer) # onnxruntime against torch on random + bird clips
    print(agreement.line())

The graph takes `waveform` float32 `(batch, clip_samples)` at the model's sample rate and gives
`probabilities` float32 `(batch, n_classes)`; the clip normalisation, STFT, frequency scale,
compression and resize are inside it. The class names (JSON), sample rate, clip length and
normalisation are in the file's metadata (`onnx.load(f).metadata_props`, or
`onnxruntime.InferenceSession(f).get_modelmeta().custom_metadata_map`). Needs the `onnx` extra
(`pip install 'specsweep[onnx]'`: onnx, onnxruntime, onnxscript).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from runner.errors import UserError

TOLERANCE = 1e-4  # the largest |onnxruntime - torch| probability accepted
OPSET = 18
MAX_BATCH = 4096
EXTRA_HINT = "install the ONNX extra: pip install 'specsweep[onnx]' (or `make install`)"


def require_onnx() -> None:
    """UserError when onnx, onnxruntime or onnxscript is missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if not importlib.util.find_spec(m)]
    if missing:
        raise UserError(f"export: {', '.join(missing)} not installed; {EXTRA_HINT}")


def onnx_metadata(scorer) -> dict[str, str]:
    return {
        "classes": json.dumps(list(scorer.classes)),
        "sample_rate": str(scorer.sample_rate),
        "clip_samples": str(scorer.clip_samples),
        "normalize": scorer.normalize,
        "input": f"waveform float32 (batch, {scorer.clip_samples}), mono at {scorer.sample_rate} Hz",
        "output": "probabilities float32 (batch, n_classes), in the order of classes",
        "producer": "specsweep",
    }


def export_onnx(scorer, path: str | Path) -> Path:
    """Write `scorer` (on the CPU, eval mode) to `path` as ONNX with a dynamic batch axis."""
    import onnx

    require_onnx()
    path = Path(path)
    scorer = scorer.cpu().eval()
    example = torch.from_numpy(random_clips(2, scorer.clip_samples, seed=0))
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    for name in ("torch.onnx", "onnxscript"):  # the exporter's progress lines and warnings
        logging.getLogger(name).setLevel(logging.ERROR)
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            scorer,
            (example,),
            dynamo=True,
            input_names=["waveform"],
            output_names=["probabilities"],
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            verbose=False,
        )
    program.save(str(path))
    model = onnx.load(str(path))
    for key, value in onnx_metadata(scorer).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def random_clips(n: int, clip_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, clip_samples))).astype(np.float32)


def bird_clips(scorer, n: int = 4) -> np.ndarray:
    """`n` clips of synthetic bird song in noise (runner.data.synthetic), at the model's rate."""
    from runner.data.synthetic import SPECIES
    from runner.data.synthetic.recordings import render_recording

    clip_s = scorer.clip_s
    calls = [(SPECIES[i % len(SPECIES)].name, i * clip_s + 0.1 * clip_s) for i in range(n)]
    signal = render_recording(n * clip_s, calls, sample_rate=scorer.sample_rate, seed=1)
    clip = scorer.clip_samples
    return np.stack([signal[i * clip : (i + 1) * clip] for i in range(n)]).astype(np.float32)


@dataclass(frozen=True)
class Agreement:
    random_diff: float  # max |onnxruntime - torch| on the random clips
    bird_diff: float  # ... on the synthetic-bird clips
    n_random: int
    n_bird: int

    @property
    def ok(self) -> bool:
        return max(self.random_diff, self.bird_diff) <= TOLERANCE

    def line(self) -> str:
        verdict = "agrees with" if self.ok else "DISAGREES with"
        return (
            f"onnxruntime {verdict} torch: max |difference| {self.random_diff:.1e} on "
            f"{self.n_random} random clips, {self.bird_diff:.1e} on {self.n_bird} synthetic-bird "
            f"clips (tolerance {TOLERANCE:g})"
        )


def check_onnx(path: str | Path, scorer) -> Agreement:
    """Run the file with onnxruntime (CPU) and the scorer with torch on the same clips."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs = []
    sets = (random_clips(3, scorer.clip_samples, seed=1), bird_clips(scorer))
    for clips in sets:
        with torch.inference_mode():
            expected = scorer.cpu()(torch.from_numpy(clips)).numpy()
        (got,) = session.run(["probabilities"], {"waveform": clips})
        diffs.append(float(np.abs(got - expected).max()))
    return Agreement(diffs[0], diffs[1], len(sets[0]), len(sets[1]))
