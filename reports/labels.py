"""Names for settings, the way a sweep file writes them, short enough for a legend.

key_name("frontend.win_length", keys)        -> "win_length"
value_text(512)                              -> "512"
level_text("frontend.scale", "mel", keys)    -> "mel"
level_text("frontend.hop_length", 128, keys) -> "hop_length=128"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def key_name(key: str, keys: Iterable[str]) -> str:
    """`key` without its section (`frontend.`) when that stays unambiguous among `keys`."""
    if "." not in key:
        return key
    short = key.split(".", 1)[1]
    others = [k.split(".", 1)[1] if "." in k else k for k in keys if k != key]
    return key if short in others else short


def value_text(value: Any) -> str:
    """A swept value as the sweep file would spell it: `128×512`, `db+pcen`, `true`, `none`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return "×".join(value_text(v) for v in value)
        return "+".join(value_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def level_text(key: str, value: Any, keys: Iterable[str]) -> str:
    """One setting for a sentence or a legend: a name-like string value stands alone ("mel",
    "pcen", "db+pcen+exp"), anything else reads `name=value` ("win_length=512")."""
    if isinstance(value, str) or (
        isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value)
    ):
        return value_text(value)
    return f"{key_name(key, keys)}={value_text(value)}"


def levels_text(keys: Sequence[str], values: Sequence[Any], all_keys: Iterable[str]) -> str:
    """Several settings together, e.g. a joint factor's level: "hop_length=64, image_size=128×1024"."""
    all_keys = tuple(all_keys)
    return ", ".join(level_text(k, v, all_keys) for k, v in zip(keys, values))


def compact_text(keys: Sequence[str], values: Sequence[Any], all_keys: Iterable[str]) -> str:
    """Like `levels_text`, but a true flag reads as its name and a false one is left out:
    "pcen, pcen.per_band" rather than "pcen, exp.per_band=false, pcen.per_band=true"."""
    all_keys = tuple(all_keys)
    parts = []
    for k, v in zip(keys, values):
        if v is True:
            parts.append(key_name(k, all_keys))
        elif v is not False:
            parts.append(level_text(k, v, all_keys))
    return ", ".join(parts)


def config_label(swept: Mapping[str, Any], keys: Sequence[str]) -> str:
    """A configuration named by its swept values in grid order (see `compact_text`)."""
    values = [swept.get(k) for k in keys]
    return compact_text(keys, values, keys) or levels_text(keys, values, keys) or "default"


def sort_key(value: Any) -> tuple:
    """Order values of one swept key: None first, numbers by size, the rest by their text."""
    if value is None:
        return (0, (), "")
    if isinstance(value, int | float):  # bool included: false < true
        return (1, (float(value),), "")
    if isinstance(value, tuple | list) and all(isinstance(v, int | float) for v in value):
        return (2, tuple(float(v) for v in value), "")
    return (3, (), value_text(value))  # names, and lists of names ("db+pcen") among them
