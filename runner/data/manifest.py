"""The native manifest: a CSV with one row per labelled audio file or segment.

    path,labels,start_s,end_s,split
    rec/0001.flac,amro;noca,,,train
    rec/0002.flac,,,,train              # empty labels: a clip with no class (a negative)
    long/dawn.wav,wiwr,12.5,15.5,test   # a segment of a longer file

Columns: `path` (relative to the CSV, or absolute), `labels` (`;`-separated class names),
optional `start_s`/`end_s` (both or neither; an empty cell means the whole file), optional
`split` (any names) or `fold` (an integer; fold `kfold.fold` is then the `test` split).
Other columns are ignored, unless their name looks like a misspelt known column.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from runner.errors import UserError

REQUIRED = ("path", "labels")
OPTIONAL = ("start_s", "end_s", "split", "fold")
MAX_CELL_CHARS = 1 << 30  # csv's default limit (131,072) is a traceback, not a check


@dataclass(frozen=True)
class Segment:
    """One labelled stretch of one audio file, as read from a dataset's rows.

    `start_s`/`end_s` None = the whole file. `where` names the row for messages
    (`data/birds.csv line 7`).
    """

    path: str  # absolute
    labels: tuple[str, ...]
    start_s: float | None = None
    end_s: float | None = None
    split: str | None = None
    fold: int | None = None
    where: str = ""


class Skips:
    """Counts of items left out under `on_bad_audio: skip`, by reason; raises under `error`."""

    def __init__(self, skip: bool):
        self.skip = skip
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    def bad(self, reason: str, message: str, n: int = 1) -> None:
        """Record a bad item, or raise UserError(message) when not skipping."""
        if not self.skip:
            raise UserError(f"{message}; fix it, or set data.on_bad_audio: skip to leave it out")
        self.counts[reason] += n
        self.examples.setdefault(reason, message)


def check_utf8(path: Path, what: str) -> None:
    """A UserError naming the line of the first byte that is not UTF-8 (csv would raise mid-read)."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path} line {line}: the {what} is not UTF-8 text (byte 0x{raw[err.start]:02x}); "
            "save it as UTF-8 (spreadsheets: 'CSV UTF-8'; or iconv -f latin1 -t utf-8)"
        ) from None


def split_labels(cell: str | None) -> tuple[str, ...]:
    """`"a; b;;a"` -> `("a", "b")`: stripped, empty pieces dropped, first occurrence kept."""
    out: list[str] = []
    for piece in (cell or "").split(";"):
        name = piece.strip()
        if name and name not in out:
            out.append(name)
    return tuple(out)


def read_manifest(
    path: str | os.PathLike, classes: tuple[str, ...] | None, skips: Skips
) -> list[Segment]:
    """Parse and check a manifest CSV. Structural problems (columns, numbers) always raise;
    per-row problems (unknown label, duplicate row) raise or are counted by `skips`."""
    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"{path}: is a folder; data.manifest names the CSV file (e.g. {path / 'manifest.csv'})"
        )
    if not path.is_file():
        raise UserError(
            f"{path}: manifest not found; check data.manifest (relative to {os.getcwd()})"
        )
    known = set(classes) if classes is not None else None
    check_utf8(path, "manifest")
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CELL_CHARS))  # any cell a file can hold
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a BOM from spreadsheet tools
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        _check_columns(path, header)
        reader.fieldnames = header
        has_segments = "start_s" in header
        rows = []
        for row in reader:
            # A newline inside a cell: the row began that many lines before the reader's line.
            extra_lines = sum(v.count("\n") for v in row.values() if isinstance(v, str))
            where = f"{path} line {max(reader.line_num - extra_lines, 2)}"
            _check_cells(where, row, header, extra_lines)
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # a blank line
            rows.append((where, row))
    segments: list[Segment] = []
    seen: dict[tuple, str] = {}
    for where, row in rows:
        cell = (row.get("path") or "").strip()
        if not cell:
            raise UserError(f"{where}: the path cell is empty; every row needs an audio file")
        audio = os.path.realpath(path.parent / cell)
        labels = split_labels(row.get("labels"))
        start_s = end_s = None
        if has_segments:
            start_s, end_s = _segment(where, row.get("start_s"), row.get("end_s"))
        split = fold = None
        if "split" in header:
            split = (row.get("split") or "").strip()
            if not split:
                raise UserError(f"{where}: the split cell is empty; give every row a split name")
        if "fold" in header:
            fold = _int(where, "fold", row.get("fold"))
        if known is not None:
            unknown = [name for name in labels if name not in known]
            if unknown:
                close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                skips.bad(
                    "unknown_label",
                    f"{where}: label {unknown[0]!r} is not in data.classes{hint}",
                )
                continue
        key = (audio, start_s, end_s)
        if key in seen:
            skips.bad("duplicate", f"{where}: duplicate row (same path and segment as {seen[key]})")
            continue
        seen[key] = where
        segments.append(Segment(audio, labels, start_s, end_s, split, fold, where))
    if not segments and not skips.counts:
        raise UserError(f"{path}: the manifest has no rows")
    return segments


def _check_cells(where: str, row: dict, header: list[str], extra_lines: int) -> None:
    """A row with more cells than the header has columns, or a cell running over lines (an
    unbalanced quote swallows the lines after it), is an error naming the row."""
    if row.get(None):  # csv.DictReader's place for cells beyond the header
        raise UserError(
            f"{where}: {len(row[None])} cell(s) more than the header's {len(header)} columns; "
            'remove them, or quote a cell that holds a comma ("a, b")'
        )
    if extra_lines > 0:
        raise UserError(
            f'{where}: a quoted cell runs over {extra_lines + 1} lines; is a double quote (") '
            "left open? Close it, or remove it from the cell"
        )


def _check_columns(path: Path, header: list[str]) -> None:
    wanted = "columns path, labels and optionally start_s, end_s, split or fold"
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; the header has "
            f"{', '.join(header) or 'nothing'}; a manifest needs {wanted}"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UserError(f"{path}: column {dupes[0]} appears twice in the header")
    for name in header:
        if name in REQUIRED or name in OPTIONAL:
            continue
        close = difflib.get_close_matches(
            name, [c for c in OPTIONAL if c not in header], n=1, cutoff=0.75
        )
        if close:
            raise UserError(f"{path}: unknown column {name!r}; did you mean {close[0]!r}?")
    if ("start_s" in header) != ("end_s" in header):
        raise UserError(f"{path}: has only one of start_s/end_s; give both columns or neither")
    if "split" in header and "fold" in header:
        raise UserError(
            f"{path}: has both split and fold columns; keep one (fold = K-fold cross-validation)"
        )


def _float(where: str, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise UserError(f"{where}: {column} {cell!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{where}: {column} {cell!r} must be a finite number of seconds >= 0")
    return value


def _segment(where: str, start: str | None, end: str | None) -> tuple[float | None, float | None]:
    start, end = (start or "").strip(), (end or "").strip()
    if not start and not end:
        return None, None
    if not start or not end:
        raise UserError(
            f"{where}: give both start_s and end_s, or leave both empty for the whole file"
        )
    start_s, end_s = _float(where, "start_s", start), _float(where, "end_s", end)
    if end_s <= start_s:
        raise UserError(f"{where}: end_s {end_s} is not after start_s {start_s}")
    return start_s, end_s


def _int(where: str, column: str, cell: str | None) -> int:
    try:
        return int((cell or "").strip())
    except ValueError:
        raise UserError(f"{where}: {column} {cell!r} is not an integer") from None
