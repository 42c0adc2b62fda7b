"""Reading a sweep file without trusting it: size, alias and nesting limits on top of safe_load.

    data = load_yaml(Path("sweeps/mine.yaml"))   # ConfigError naming the file and the limit

`yaml.safe_load` builds no objects but plain ones, yet a few hundred bytes can still exhaust
memory or the stack: nested anchors that each repeat the previous one ten times (the "billion
laughs" alias bomb) expand to 10^9 values once anything walks the result, and an anchor that
contains an alias to itself (`kwargs: &a {x: *a}`) is a cycle that recursion never leaves. The
limits are far above any real sweep file (the Merlin Part 1 sweep is 2 KB, 150 values, depth 5):

    MAX_FILE_BYTES     1 MiB      a sweep file is a page of settings, not data
    MAX_ALIASES        1,000      uses of `*anchor` in the file
    MAX_VALUES         100,000    values in the document with every alias expanded
    MAX_DEPTH          50         nesting of mappings and lists, aliases expanded

An alias to an anchor that is still open (a cycle) is refused outright. The checks run on the
composed node graph, before any Python object is built, and count each shared node once per use
without expanding it, so a bomb is refused in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from runner.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
MAX_ALIASES = 1_000
MAX_VALUES = 100_000
MAX_DEPTH = 50


class _Refused(Exception):
    """A limit hit while composing; carries where in the file."""

    def __init__(self, message: str, mark: Any = None):
        super().__init__(message)
        self.mark = mark


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases, refuses cycles and caps nesting while it composes."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._open_anchors: set[str] = set()
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _Refused(
                    f"alias *{event.anchor} refers to the anchor &{event.anchor} it is inside of "
                    "(a value that contains itself); write the value out instead",
                    event.start_mark,
                )
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Refused(
                    f"more than {MAX_ALIASES} aliases (*name); a sweep file needs few, if any "
                    "(the limit guards against alias bombs)",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                f"mappings and lists nested more than {MAX_DEPTH} deep; flatten the file",
                event.start_mark,
            )
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(anchor)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        """Refuse a key given twice in one mapping (YAML would keep the last without a word)."""
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    first, second = seen[key].line + 1, key_node.start_mark.line + 1
                    raise _Refused(
                        f"key '{key}' is given twice, on lines {first} and {second} (YAML would "
                        "keep the second without a word); keep one of them",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _expanded(node: Node, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(values, depth) of `node` with every alias expanded; shared nodes are measured once."""
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, SequenceNode):
        children = [_expanded(child, memo) for child in node.value]
    elif isinstance(node, MappingNode):
        children = [_expanded(part, memo) for pair in node.value for part in pair]
    else:
        children = []
    values = 1 + sum(v for v, _ in children)
    depth = 1 + max((d for _, d in children), default=0)
    memo[key] = (min(values, MAX_VALUES + 1), depth)  # capped: a bomb's count stays small
    return memo[key]


def parse(text: str, source: str) -> Any:
    """The YAML document in `text`, within the limits; errors name `source` and the position."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values, depth = _expanded(node, {})
        if values > MAX_VALUES:
            raise _Refused(
                f"the document expands to more than {MAX_VALUES:,} values once its aliases are "
                "written out (an alias bomb?); a sweep file needs far fewer"
            )
        if depth > MAX_DEPTH:
            raise _Refused(
                f"with its aliases written out the document nests more than {MAX_DEPTH} deep; "
                "flatten the file"
            )
        return loader.construct_document(node)
    except _Refused as err:
        mark = err.mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"{source}: {where}refused: {err}") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: refused: the YAML nests too deeply to read; flatten the file"
        ) from None
    finally:
        loader.dispose()


def load_yaml(path: Path) -> Any:
    """Read and parse a sweep file: missing, unreadable or oversized files are a ConfigError."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such sweep file; check the path (sweeps live in sweeps/)"
        ) from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the sweep file ({err})") from None
    if path.is_file() and size > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path}: {size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit for a sweep file; "
            "is this the right file? (a sweep file is a page of settings)"
        )
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # a FIFO or a growing file: never read past the limit
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(
                f"{path}: over the {MAX_FILE_BYTES:,}-byte limit for a sweep file; "
                "is this the right file?"
            )
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); save the sweep "
            "file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None
    except (IsADirectoryError, PermissionError) as err:
        raise ConfigError(f"{path}: cannot read the sweep file ({err})") from None
    try:
        return parse(text, str(path))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(
            f"{path}: {where}: the YAML does not parse ({problem}); fix the syntax there "
            "(check indentation, colons and brackets)"
        ) from None
