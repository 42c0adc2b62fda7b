"""Cutting a signal into the windows a scorer takes: windows of the clip length every hop, plus
one flush with the end, and a signal shorter than a clip centred in zeros. `specsweep predict`
cuts recordings with it, and a logged model's pyfunc cuts waveforms of another length with it,
so both score the same windows. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def sliding_windows(
    blocks: Iterable[np.ndarray], clip_len: int, hop_len: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(start sample, window) over a signal that arrives in blocks: windows of `clip_len` every
    `hop_len`, plus one flush with the end if the hops leave a tail. A signal of at most
    `clip_len` samples gives one window, the whole signal (shorter than a clip: pad it)."""
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # sample index of buffer[0]
    total, next_start, last = 0, 0, None
    for block in blocks:
        buffer = np.concatenate([buffer, block.astype(np.float32, copy=False)])
        total += block.size
        while next_start + clip_len <= total:
            a = next_start - buffer_start
            yield next_start, buffer[a : a + clip_len].copy()
            last, next_start = next_start, next_start + hop_len
        # Keep what the next window needs, and the last clip for a flush window at the end.
        drop = min(next_start - buffer_start, buffer.size - clip_len)
        if drop > 0:
            buffer, buffer_start = buffer[drop:], buffer_start + drop
    if last is None:
        yield 0, buffer[:total].copy()
    elif last + clip_len < total:
        yield total - clip_len, buffer[buffer.size - clip_len :].copy()


def padded(window: np.ndarray, clip_len: int) -> np.ndarray:
    """A window shorter than a clip, centred in zeros (as evaluation pads short segments)."""
    if window.size >= clip_len:
        return window
    out = np.zeros(clip_len, dtype=np.float32)
    offset = (clip_len - window.size) // 2
    out[offset : offset + window.size] = window
    return out
