"""A trained classifier packaged for use: waveform clips in, per-class probabilities out.

    scorer = ClipScorer(classifier, classes=("amro", "noca"), sample_rate=22050, clip_samples=66150)
    probabilities = scorer(waveform)          # (batch, clip_samples) -> (batch, n_classes) in [0, 1]
    dict(zip(scorer.classes, probabilities[0].tolist()))

This is what a trial logs as its MLflow model (runner/tracking/logged_models.py): the frontend is inside,
so a user feeds mono audio at `sample_rate`, cut into windows of `clip_samples`, and gets
probabilities (a sigmoid per class: the task is multi-label), named by `classes`. The clip
normalisation the trial trained with (`data.normalize`: none, peak or rms) is applied here too,
per window. Pure torch: no MLflow, no I/O.
"""

from __future__ import annotations

import torch
from torch import nn

RMS_TARGET = 0.1  # the training pipeline's rms level (runner/data/sampling.py)
NORMALIZE_MODES = ("none", "peak", "rms")


class ClipScorer(nn.Module):
    """`classifier` (waveform -> logits) followed by a sigmoid, with what it takes and gives.

    classes: one name per output, in output order. sample_rate: Hz of the waveform it expects.
    clip_samples: the window length it was trained on. normalize: per-window normalisation.
    """

    def __init__(
        self,
        classifier: nn.Module,
        classes: tuple[str, ...],
        sample_rate: int,
        clip_samples: int,
        normalize: str = "none",
    ):
        super().__init__()
        if normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize: {normalize!r} is not one of {', '.join(NORMALIZE_MODES)}")
        if clip_samples < 1 or sample_rate < 1:
            raise ValueError(
                f"clip_samples {clip_samples}, sample_rate {sample_rate}: both must be positive"
            )
        self.classifier = classifier
        self.classes = tuple(str(c) for c in classes)
        self.sample_rate = int(sample_rate)
        self.clip_samples = int(clip_samples)
        self.normalize = normalize

    @property
    def clip_s(self) -> float:
        return self.clip_samples / self.sample_rate

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform (batch, clip_samples) float32 -> probabilities (batch, n_classes) float32."""
        if waveform.ndim != 2 or waveform.shape[1] != self.clip_samples:
            raise ValueError(
                f"waveform: expected (batch, {self.clip_samples}) samples at {self.sample_rate} Hz, "
                f"got shape {tuple(waveform.shape)}; cut the audio into windows of "
                f"{self.clip_s:g} s first"
            )
        x = waveform.float()
        if self.normalize == "peak":
            peak = x.abs().amax(dim=1, keepdim=True)  # (B, 1)
            x = torch.where(peak > 0, x / peak.clamp_min(1e-30), x)
        elif self.normalize == "rms":
            rms = x.double().square().mean(dim=1, keepdim=True).sqrt().float()  # (B, 1)
            x = torch.where(rms > 0, x * (RMS_TARGET / rms.clamp_min(1e-30)), x)
        return torch.sigmoid(self.classifier(x).float())  # (B, n_classes)
