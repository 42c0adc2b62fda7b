"""A tiny untrained scorer (timm's `test_resnet` after a small frontend) for tests that log,
load, serve or export a model without training one: it exports to ONNX in seconds."""

from __future__ import annotations

import torch

from frontends import FrontendConfig
from models.classifier import create_classifier
from models.config import ModelConfig
from models.scoring import ClipScorer

SR = 8000
CLASSES = ("amro", "noca", "bcch")


def tiny_scorer(
    compression="pcen", normalize="rms", backbone="test_resnet", image_size=(32, 48)
) -> ClipScorer:
    """One second at 8 kHz -> 3 class probabilities; `compression` a name or a tuple of names."""
    torch.manual_seed(0)
    frontend = FrontendConfig(
        sample_rate=SR, win_length=256, hop_length=128, n_mels=32, image_size=image_size,
        compression=compression,
    )  # fmt: skip
    model = ModelConfig(name=backbone, pretrained="none")
    classifier = create_classifier(frontend.resolved(), model, len(CLASSES)).eval()
    return ClipScorer(classifier, CLASSES, SR, SR, normalize)
