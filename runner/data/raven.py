"""Raven Pro selection tables: tab-separated boxes on long recordings, cut into labelled windows.

A table has one row per selection with at least `Begin Time (s)`, `End Time (s)`,
`Low Freq (Hz)`, `High Freq (Hz)` and a species column (name set by `raven.species_column`).
The recording of each row is found in one of two ways:

- a `Begin File` column names it (Raven's multi-file tables); the row's time inside that file is
  `File Offset (s)` when that column exists, else `Begin Time (s)`;
- otherwise the table belongs to one recording, named the way Raven saves tables:
  `<recording>.Table.1.selections.txt` -> `<recording>.wav` (or .flac, .ogg, .mp3, ...).

Raven writes each selection once per view (`Waveform 1`, `Spectrogram 1`); when a `View` column
is present only the spectrogram rows are kept, so a box is never counted twice.

Each recording is cut into windows of `clip_s` every `hop_s`; a window's labels are the species
whose boxes overlap it by at least `min_overlap_s`, or by the whole box when the box is shorter.
"""

from __future__ import annotations

import csv
import glob
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from runner.data.config import RavenConfig
from runner.data.manifest import Segment, Skips, check_utf8
from runner.errors import UserError

BEGIN, END = "Begin Time (s)", "End Time (s)"
LOW, HIGH = "Low Freq (Hz)", "High Freq (Hz)"
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")


@dataclass(frozen=True)
class Box:
    begin_s: float
    end_s: float
    species: str
    where: str


@dataclass
class Recording:
    """One audio file and every box drawn on it (possibly none: a recording with no birds)."""

    path: str  # absolute
    where: str  # the table (and row) that first named it
    split: str | None = None
    boxes: list[Box] = field(default_factory=list)


def find_tables(pattern: str) -> list[Path]:
    """The tables named by `raven.tables`: a file, a folder (recursively `*.txt`) or a glob."""
    p = Path(pattern)
    if p.is_dir():
        tables = sorted(p.rglob("*.txt"))
    elif p.is_file():
        tables = [p]
    else:
        tables = sorted(Path(t) for t in glob.glob(pattern, recursive=True) if Path(t).is_file())
    if not tables:
        raise UserError(
            f"raven.tables: {pattern!r} matches no selection table; give a folder of .txt tables, "
            "a table file or a glob"
        )
    return tables


def read_tables(cfg: RavenConfig, classes: tuple[str, ...] | None, skips: Skips) -> list[Recording]:
    """Every recording named by the tables, with its boxes, in a stable order."""
    assert cfg.tables is not None
    recordings: dict[str, Recording] = {}
    for table in find_tables(cfg.tables):
        _read_table(table, cfg, classes, skips, recordings)
    return [recordings[k] for k in sorted(recordings)]


def _read_table(
    table: Path,
    cfg: RavenConfig,
    classes: tuple[str, ...] | None,
    skips: Skips,
    recordings: dict[str, Recording],
) -> None:
    check_utf8(table, "Raven table")
    with open(table, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        required = [BEGIN, END, LOW, HIGH, cfg.species_column]
        if cfg.split_column:
            required.append(cfg.split_column)
        missing = [c for c in required if c not in header]
        if missing:
            raise UserError(
                f"{table}: Raven table is missing column(s) {', '.join(repr(c) for c in missing)}; "
                f"it has {', '.join(repr(h) for h in header) or 'no header'} (is it tab-separated? "
                "set raven.species_column to the column holding the species)"
            )
        rows = [(f"{table} line {reader.line_num}", row) for row in reader]
    if "View" in header and any((r.get("View") or "").startswith("Spectrogram") for _, r in rows):
        rows = [(w, r) for w, r in rows if (r.get("View") or "").startswith("Spectrogram")]
    audio_dir = Path(cfg.audio_dir) if cfg.audio_dir else table.parent
    own = None if "Begin File" in header else _recording_of_table(table, audio_dir)
    if own is not None and own not in recordings:
        recordings[own] = Recording(own, str(table))
    seen: dict[tuple, str] = {}
    for where, row in rows:
        if own is None:
            name = (row.get("Begin File") or "").strip()
            if not name:
                raise UserError(f"{where}: the Begin File cell is empty")
            audio = os.path.realpath(audio_dir / Path(name).name)
        else:
            audio = own
        rec = recordings.setdefault(audio, Recording(audio, where))
        if cfg.split_column:
            split = (row.get(cfg.split_column) or "").strip()
            if not split:
                raise UserError(f"{where}: the {cfg.split_column} cell is empty")
            if rec.split is not None and rec.split != split:
                raise UserError(
                    f"{where}: {cfg.split_column} {split!r} differs from {rec.split!r} given for the "
                    f"same recording at {rec.where}; one recording belongs to one split"
                )
            rec.split = split
        begin = _seconds(where, BEGIN, row.get(BEGIN))
        end = _seconds(where, END, row.get(END))
        low = _seconds(where, LOW, row.get(LOW))
        high = _seconds(where, HIGH, row.get(HIGH))
        if end <= begin:
            raise UserError(f"{where}: {END} {end} is not after {BEGIN} {begin}")
        if high < low:
            raise UserError(f"{where}: {HIGH} {high} is below {LOW} {low}")
        if own is None and "File Offset (s)" in header:
            offset = _seconds(where, "File Offset (s)", row.get("File Offset (s)"))
            begin, end = offset, offset + (end - begin)
        species = (row.get(cfg.species_column) or "").strip()
        if not species:
            skips.bad("unknown_label", f"{where}: the {cfg.species_column} cell is empty")
            continue
        if classes is not None and species not in classes:
            skips.bad("unknown_label", f"{where}: species {species!r} is not in data.classes")
            continue
        key = (audio, begin, end, species)
        if key in seen:
            skips.bad("duplicate", f"{where}: duplicate selection (same box as {seen[key]})")
            continue
        seen[key] = where
        rec.boxes.append(Box(begin, end, species, where))


def _recording_of_table(table: Path, audio_dir: Path) -> str:
    stem = table.name.split(".Table.")[0] if ".Table." in table.name else table.stem
    for candidate in sorted(audio_dir.glob(glob.escape(stem) + ".*")):
        if candidate.suffix.lower() in AUDIO_EXTENSIONS:
            return os.path.realpath(candidate)
    # Reported with the table's name; the caller counts it as a missing file.
    return os.path.realpath(audio_dir / f"{stem}.wav")


def _seconds(where: str, column: str, cell: str | None) -> float:
    try:
        value = float((cell or "").strip())
    except ValueError:
        raise UserError(f"{where}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{where}: {column} {cell!r} must be a finite number >= 0")
    return value


def window_starts(duration_s: float, clip_s: float, hop_s: float) -> list[float]:
    """Window starts covering a recording: every `hop_s`, plus one flush with the end, if the
    hops leave a tail. A recording shorter than a clip gets one window at 0 (padded later)."""
    if duration_s <= clip_s:
        return [0.0]
    n = math.floor((duration_s - clip_s) / hop_s + 1e-9) + 1
    starts = [i * hop_s for i in range(n)]
    if duration_s - (starts[-1] + clip_s) > 1e-6:
        starts.append(duration_s - clip_s)
    return starts


def windows(
    rec: Recording, duration_s: float, clip_s: float, hop_s: float, min_overlap_s: float
) -> list[Segment]:
    """The recording's labelled windows, as segments of at most `clip_s` seconds."""
    out = []
    for start in window_starts(duration_s, clip_s, hop_s):
        stop = min(start + clip_s, duration_s)
        labels = []
        for box in rec.boxes:
            overlap = min(stop, box.end_s) - max(start, box.begin_s)
            need = min(min_overlap_s, box.end_s - box.begin_s)
            if overlap > 0 and overlap >= need - 1e-9 and box.species not in labels:
                labels.append(box.species)
        out.append(
            Segment(rec.path, tuple(sorted(labels)), start, stop, rec.split, None, rec.where)
        )
    return out
