"""The data check a sweep runs once, before it enqueues any trial (`specsweep plan --check-data`).

    for line in check_data(specs):   # UserError (exit 2) at the first mistake in the data
        print(line)                  # "data: birds.csv: 16 classes, train 640 segments, ..."

Every trial loads its dataset itself, in its own process. A mistake there (a corrupt file under
`on_bad_audio: error`, a missing manifest or column, an evaluation split the data does not have,
a non-UTF-8 CSV, end_s before start_s, ...) would fail every trial of the grid the same way, each
after its process started. So `specsweep sweep` loads every dataset the grid needs first: each
distinct `data` section, at each sample rate, with its evaluation sets. That builds (or opens)
the audio cache the trials will share, and reports what `on_bad_audio: skip` left out, once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from runner.sweep import schema as _schema

if TYPE_CHECKING:
    from runner.data import DataConfig
    from runner.sweep.spec import TrialSpec


def datasets_needed(
    specs: Sequence[TrialSpec],
) -> list[tuple[DataConfig, int, tuple[str, ...], str]]:
    """(data, sample_rate, eval sets, first trial using them) for each distinct combination."""
    seen: dict[str, tuple[DataConfig, int, tuple[str, ...], str]] = {}
    for spec in specs:
        cfg = spec.config
        key = json.dumps(
            [_schema.to_plain(cfg.data), cfg.frontend.sample_rate, list(cfg.eval.sets)],
            sort_keys=True,
        )
        if key not in seen:
            seen[key] = (cfg.data, cfg.frontend.sample_rate, tuple(cfg.eval.sets), spec.name)
    return list(seen.values())


@contextlib.contextmanager
def _quiet_loader() -> Iterator[None]:
    """The loader logs its skip counts as a warning; here they are reported once, as a line."""
    logger = logging.getLogger("runner.data.datasets")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_data(specs: Sequence[TrialSpec]) -> list[str]:
    """Load every dataset the trials need; one summary line each. A data mistake is a UserError."""
    from runner.data import load_dataset  # torch and the audio libraries: only when checking

    needed = datasets_needed(specs)
    lines = []
    for data, sample_rate, eval_sets, first in needed:
        with _quiet_loader():
            ds = load_dataset(data, sample_rate, eval_sets, seed=0)
        at = f" (for {first} and others like it)" if len(needed) > 1 else ""
        line = f"data: {ds.summary()} at {sample_rate} Hz{at}"
        if ds.skipped:
            counts = ", ".join(f"{n} {reason}" for reason, n in sorted(ds.skipped.items()))
            line += f"; on_bad_audio: skip left out {counts}"
        lines.append(line)
        lines += [f"{WARNING}{w}" for w in label_warnings(ds.classes)]
    return lines


WARNING = "warning: "  # a line of check_data that `--strict` turns into an error
_SEPARATORS = re.compile(r"[\s,|/_.\-]+")


def label_warnings(classes: Sequence[str]) -> list[str]:
    """Class names that look like typos: two spelled alike but for case or separators
    (`NOCA` beside `noca`), and names holding `,` or `|` (labels are separated by `;`)."""
    out = []
    by_form: dict[str, list[str]] = {}
    for name in classes:
        by_form.setdefault(_SEPARATORS.sub("", name).lower(), []).append(name)
        bad = next((c for c in ",|" if c in name), None)
        if bad:
            out.append(
                f"data: label {name!r} contains {bad!r}; labels in one cell are separated by ';' "
                f"(write {name.replace(bad, ';')!r} if you mean {len(name.split(bad))} labels)"
            )
    for names in by_form.values():
        if len(names) > 1:
            out.append(
                f"data: labels {', '.join(map(repr, names))} differ only in case or separators "
                "and count as different classes; spell them one way"
            )
    return out


def strict(lines: Sequence[str], is_strict: bool) -> None:
    """With `--strict`, the first warning of `lines` is an error (exit 2)."""
    from runner.errors import UserError

    first = next((line for line in lines if line.startswith(WARNING)), None)
    if is_strict and first is not None:
        raise UserError(f"{first[len(WARNING) :]} (--strict)")
