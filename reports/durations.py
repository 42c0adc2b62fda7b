"""How a duration is written, everywhere the project shows one: the one formatter, two styles.

    format_duration(3725)                  -> "1h02m"    clock style: the live progress panel,
    format_duration(65)                    -> "1m05s"    the sweep's closing line
    format_duration(12)                    -> "12s"
    format_duration(140.3, style="unit")   -> "2.3 min"  unit style: the report's sentences and
    format_duration(45, style="unit")      -> "45 s"     tables ("3.2 h" from three hours on)
    format_duration(None)                  -> "?"        unknown (no ETA yet), in either style

Clock style counts whole units, so a panel that redraws every second does not jitter; unit style
reads inside a sentence ("12.5 min of training").
"""

from __future__ import annotations

from typing import Literal


def format_duration(seconds: float | None, style: Literal["clock", "unit"] = "clock") -> str:
    """`seconds` as text: "1h02m" / "4m05s" / "12s" (clock) or "3.2 h" / "12.5 min" / "45 s"
    (unit); "?" when unknown."""
    if seconds is None:
        return "?"
    if style == "unit":
        return _unit_text(seconds)
    if style != "clock":
        raise ValueError(f"format_duration: style {style!r} is not 'clock' or 'unit'")
    return _clock_text(seconds)


def _clock_text(seconds: float) -> str:
    seconds = round(max(seconds, 0.0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _unit_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
