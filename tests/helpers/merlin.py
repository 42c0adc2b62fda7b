"""The Merlin study's Part 1 grid, written out once (not a test module).

12 configurations: STFT window {256, 512} x scale {linear, mel} x (hop, image size) with the image
size tied to the hop (hop 64 -> 128x1024; hop 128 -> 96x512 or 128x512). The Merlin study's numbers are
written here by hand on purpose: tests/sweep/test_config.py checks sweeps/merlin_part1.yaml
against them, and report_runs logs its hand-made runs over them.
"""

from __future__ import annotations

# The swept keys, in the order of the tuples below.
MERLIN_PART1_KEYS = (
    "frontend.win_length",
    "frontend.hop_length",
    "frontend.scale",
    "frontend.image_size",
)


def merlin_part1_grid() -> list[dict]:
    """The 12 configurations as {swept key: value}, window outermost, scale innermost; fresh dicts
    on every call."""
    return [
        dict(zip(MERLIN_PART1_KEYS, (win, hop, scale, size)))
        for win in (256, 512)
        for hop, size in ((64, (128, 1024)), (128, (96, 512)), (128, (128, 512)))
        for scale in ("linear", "mel")
    ]
