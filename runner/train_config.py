"""TrainConfig / EvalConfig: initial version so the sweep loader works; issue 5 replaces this file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 90
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (30, 60, 80)
    lr_factor: float = 0.1


@dataclass(frozen=True)
class EvalConfig:
    sets: tuple[str, ...] = ("test",)
