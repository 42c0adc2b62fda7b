"""Published PCEN parameter sets, by name: `frontend.pcen.preset` (torch-free, so a sweep file
validates without torch). docs/pcen.md shows what each does to a sustained call and to a click.

Each preset gives gain, bias, power and eps, and the smoother either as a per-frame coefficient
(`smoothing`, as its source does) or as a time constant in seconds (`time_constant_s`), which
`FrontendConfig` turns into the per-frame coefficient at its own sample rate and hop with
librosa's formula. Sources (each value as the cited code sets it):

- `default`: specsweep's own defaults, the values the seed study used (Wang et al. 2016's).
- `librosa`: the defaults of `librosa.pcen` (gain 0.98, bias 2, power 0.5, time_constant 0.4 s,
  eps 1e-6).
- `leaf`: LEAF's `PCENLayer` defaults (google-research/leaf-audio, leaf_audio/postprocessing.py):
  alpha 0.96, smooth_coef 0.04, delta 2.0, root 2.0 (power = 1 / root), floor 1e-6.
- `perch`: Perch's `PCENScalingConfig` defaults (google-research/perch, chirp/models/frontend.py;
  the same in chirp/birb_sep_paper/audio_ops.py): smoothing_coef 0.1, gain 0.5, bias 2.0,
  root 2.0, eps 1e-6.
- `birdvox`: BirdVoxDetect's bioacoustic settings (BirdVox/birdvoxdetect, birdvoxdetect/core.py,
  `get_pcen_settings`): pcen_norm_exponent (gain) 0.8, pcen_delta (bias) 10, pcen_power 0.25,
  pcen_time_constant 0.06 s, librosa's eps 1e-6: a large bias, a strong onset detector.
"""

from __future__ import annotations

import math

PCEN_VALUES = ("smoothing", "gain", "bias", "power", "eps")

PCEN_PRESETS: dict[str, dict[str, float]] = {
    "default": {"smoothing": 0.025, "gain": 0.98, "bias": 2.0, "power": 0.5, "eps": 1e-6},
    "librosa": {"time_constant_s": 0.4, "gain": 0.98, "bias": 2.0, "power": 0.5, "eps": 1e-6},
    "leaf": {"smoothing": 0.04, "gain": 0.96, "bias": 2.0, "power": 0.5, "eps": 1e-6},
    "perch": {"smoothing": 0.1, "gain": 0.5, "bias": 2.0, "power": 0.5, "eps": 1e-6},
    "birdvox": {"time_constant_s": 0.06, "gain": 0.8, "bias": 10.0, "power": 0.25, "eps": 1e-6},
}


def smoothing_from_time_constant(
    time_constant_s: float, sample_rate: int, hop_length: int
) -> float:
    """librosa's per-frame smoothing for a time constant: `b = (sqrt(1 + 4 T^2) - 1) / (2 T^2)`
    with `T = time_constant_s * sample_rate / hop_length` (frames)."""
    frames = time_constant_s * sample_rate / hop_length
    return (math.sqrt(1.0 + 4.0 * frames**2) - 1.0) / (2.0 * frames**2)
