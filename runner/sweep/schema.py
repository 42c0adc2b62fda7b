"""Plain YAML values -> frozen dataclasses, checked against the dataclasses' type hints.

`build(cls, mapping, where)` makes one dataclass and, through its type hints, every dataclass
inside it: the sweep loader (runner/sweep/load.py) builds the whole `SweepConfig` in one call,
`spec` rebuilds single sections and `grid` each `grid.linked` entry. Each error is a `ConfigError`
that names the key path, the bad value and the fix, e.g.

    frontend.pcen.smothing: unknown key; did you mean 'smoothing'?

The supported annotations are the ones config dataclasses are allowed to use: int, float, str,
bool, X | None, Literal[...], tuple[T, ...], tuple[T, T], unions of those, nested frozen
dataclasses, and dict[str, Any] for free-form mappings.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from typing import Any, Literal, Union

from runner.errors import ConfigError

_MISSING = dataclasses.MISSING


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of a dataclass (string annotations evaluated once)."""
    return typing.get_type_hints(cls)


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """ "; did you mean 'x'?" when a close match exists, else ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def describe(value: Any) -> str:
    """A value as the user wrote it, with its YAML type, for error messages."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        tuple: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    text = repr(value) if not isinstance(value, (list, tuple, dict)) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({kind})"


def type_name(hint: Any) -> str:
    """A readable name for an annotation: 'an integer', 'one of 'a', 'b'', 'a list of numbers'..."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if hint is type(None):
        return "null"
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of ({type_name(args[0])})"
        return f"a list of {len(args)} items ({', '.join(type_name(a) for a in args)})"
    if origin is dict:
        return "a mapping"
    return str(hint)


def convert(value: Any, hint: Any, where: str) -> Any:
    """Check `value` against `hint` and return it in the dataclass's form (lists become tuples)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin in (Union, types.UnionType):
        return _convert_union(value, hint, where)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value in choices and type(value) in {type(c) for c in choices}:
            return value
        hint_text = suggest(value, [c for c in choices if isinstance(c, str)])
        raise ConfigError(
            f"{where}: {describe(value)} is not allowed; use {type_name(hint)}{hint_text}"
        )
    if origin is tuple:
        return _convert_tuple(value, hint, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {describe(value)}")
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is type(None):
        if value is None:
            return None
    else:  # pragma: no cover - a dataclass used an annotation this loader does not know
        raise TypeError(f"{where}: unsupported annotation {hint!r} in a config dataclass")
    fix = " (write it without quotes)" if isinstance(value, str) and hint in (int, float) else ""
    if hint is str and isinstance(value, bool):  # `yes`, `true`, `on`, `no`... are booleans
        fix = (
            f"; YAML reads true/false/yes/no/on/off as booleans: give one of {VALUE_HINTS[where]}"
            if where in VALUE_HINTS
            else "; quote it if you mean the word"
        )
    raise ConfigError(f"{where}: expected {type_name(hint)}, got {describe(value)}{fix}")


# The values a string key takes, for a message when a boolean was given instead.
VALUE_HINTS = {
    "model.pretrained": "none, imagenet or the path of a weight file (.safetensors, .pth)",
}


def _convert_union(value: Any, hint: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{where}: expected {type_name(hint)}, got null; give a value")
    # Try the most specific alternatives first, so `int | float` keeps ints as ints.
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return convert(value, arg, where)
        except ConfigError as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    raise ConfigError(f"{where}: expected {type_name(hint)}, got {describe(value)}")


def _convert_tuple(value: Any, hint: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected {type_name(hint)}, got {describe(value)}")
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(value) != len(args):
        raise ConfigError(
            f"{where}: expected {type_name(hint)}, got {len(value)} items: {describe(value)}"
        )
    return tuple(convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))


def required_fields(cls: type) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is _MISSING and f.default_factory is _MISSING
    ]


def build(cls: type, mapping: Any, where: str) -> Any:
    """Build the frozen dataclass `cls` from a YAML mapping; `where` is its key path ('frontend').

    Unknown keys are refused with a did-you-mean; a ValueError from the dataclass's own
    `__post_init__` checks ("hop_length: ... ") is re-raised as a ConfigError under `where`.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {describe(mapping)}")
    hints = type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in mapping.items():
        if key not in names:
            raise ConfigError(
                f"{_join(where, key)}: unknown key{suggest(key, names)}"
                + ("" if suggest(key, names) else f" (known keys: {', '.join(names)})")
            )
        kwargs[key] = convert(value, hints[key], _join(where, key))
    for name in required_fields(cls):
        if name not in kwargs:
            raise ConfigError(
                f"{_join(where, name)}: missing required key; add '{name}: <{type_name(hints[name])}>'"
            )
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(_locate(where, str(err), names)) from None


def _locate(where: str, message: str, names: list[str]) -> str:
    """Prefix a dataclass's 'field: problem' message with the section's key path."""
    head, sep, rest = message.partition(":")
    if sep and head.strip().split(".")[0] in names:
        return f"{_join(where, head.strip())}:{rest}"
    return f"{where}: {message}" if where else message


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else str(key)


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain nested dicts/lists/scalars (YAML- and JSON-safe)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    return obj


def key_exists(cls: type, path: list[str]) -> tuple[bool, list[str]]:
    """Whether a dotted key path names a field below `cls`; on failure, the fields where it broke."""
    hints = type_hints(cls)
    head, rest = path[0], path[1:]
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    if head not in names:
        return False, names
    if not rest:
        return True, []
    sub = _dataclass_in(hints[head])
    if sub is not None:
        return key_exists(sub, rest)
    if typing.get_origin(hints[head]) is dict or hints[head] is Any:
        return True, []  # free-form mapping: any key below is the user's
    return False, []


def _dataclass_in(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg
    return None
