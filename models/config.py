"""ModelConfig: initial version so the sweep loader works; issue 5 (models/) replaces this file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet50"
    pretrained: str = "none"
