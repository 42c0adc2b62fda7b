"""The frequency-band fields of a frontend config, as a Protocol.

`filterbanks` and `_registry` need only these fields of a `FrontendConfig`, and `config` imports
both of them (to count empty bands and to list compressions while validating). Typing them
against this Protocol instead of the class keeps the imports one way: config -> filterbanks,
config -> _registry, never back.
"""

from __future__ import annotations

from typing import Protocol


class BandLayout(Protocol):
    """What a filterbank is computed from; `FrontendConfig` satisfies it."""

    @property
    def scale(self) -> str: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def n_mels(self) -> int: ...
    @property
    def f_min(self) -> float: ...
    @property
    def f_max(self) -> float | None: ...
    @property
    def power(self) -> float: ...
    @property
    def mel_scale(self) -> str: ...
    @property
    def mel_norm(self) -> str | None: ...
