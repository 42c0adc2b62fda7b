"""Datasets: initial version so the sweep loader works; issue 4 (runner/data/) replaces this file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class DataConfig:
    kind: Literal["synthetic", "manifest", "raven"] = "synthetic"
    manifest: str | None = None
    clip_s: float = 3.0

    def __post_init__(self):
        if self.clip_s <= 0:
            raise ValueError(f"clip_s: {self.clip_s} must be positive")
