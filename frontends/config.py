"""FrontendConfig: initial version so the sweep loader works; issue 3 (frontends/) replaces this file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal


@dataclass(frozen=True)
class PcenConfig:
    smoothing: float = 0.025
    per_band: bool = False


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 22050
    win_length: int = 512
    hop_length: int = 128
    n_fft: int | None = None
    window: str = "hann"
    center: bool = True
    power: float = 2.0
    scale: Literal["linear", "mel", "log", "erb"] = "mel"
    n_mels: int = 128
    compression: str | tuple[str, ...] = "db"
    repeat_channels: int = 1
    pcen: PcenConfig = field(default_factory=PcenConfig)
    image_size: tuple[int, int] | None = None

    def __post_init__(self):
        for name in ("sample_rate", "win_length", "hop_length", "n_mels", "repeat_channels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: {getattr(self, name)} must be positive")
        if self.hop_length > self.win_length:
            raise ValueError(
                f"hop_length: {self.hop_length} is larger than win_length {self.win_length}; "
                "use a hop <= the window"
            )
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise ValueError(
                f"n_fft: {self.n_fft} is shorter than win_length {self.win_length}; "
                "use n_fft >= win_length or leave it null"
            )
        if self.image_size is not None and min(self.image_size) <= 0:
            raise ValueError(f"image_size: {list(self.image_size)} must be positive (H, W)")

    def resolved(self) -> FrontendConfig:
        return replace(self, n_fft=self.n_fft or self.win_length)
