"""Score recordings with a trained model: sliding windows -> per-class probabilities.

    scorer = load_scorer("runs:/<run id>/model", tracking_uri="sqlite:///mlflow.db")
    result = score_file(scorer, "dawn/site3.flac", hop_s=1.5, batch_size=64, device="cpu")
    result.starts_s, result.ends_s, result.scores          # (n_windows,), (n_windows,), (n, C)

A file is decoded exactly as the audio cache decodes it (`runner.data.cache.decode_blocks`: mono,
resampled to the model's sample rate, a block at a time, so a long recording costs a block of
memory and the windows being scored). Windows of the model's clip length start every `hop_s`,
plus one flush with the end when the hops leave a tail (as Raven datasets and evaluation cut
them); a file shorter than a clip is one window, centred and zero-padded.
"""

from __future__ import annotations

import csv
import math
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.windows import padded, sliding_windows
from runner.errors import UserError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
RUN_ID = re.compile(r"[0-9a-f]{32}")
RAVEN_COLUMNS = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
    "Species",
    "Score",
)


# --------------------------------------------------------------------------- the model


def model_uri(ref: str) -> str:
    """MODEL as the user wrote it -> an MLflow model URI (or a local folder); UserError if none."""
    if Path(ref).is_dir():
        if not (Path(ref) / "MLmodel").is_file():
            raise UserError(
                f"model {ref}: the folder holds no MLmodel file; give the folder of an MLflow "
                "model (the one with MLmodel in it), a run id, runs:/<id>/model or "
                "models:/<name>/<version>"
            )
        return str(Path(ref).resolve())
    if RUN_ID.fullmatch(ref):
        return f"runs:/{ref}/model"
    if ref.startswith(("runs:/", "models:/")):
        return ref
    raise UserError(
        f"model {ref!r}: not a run id, runs:/<run id>/model, models:/<name>/<version>, "
        "models:/<model id> or a local model folder; `specsweep report` lists the logged models"
    )


def load_scorer(ref: str, tracking_uri: str):
    """The `models.scoring.ClipScorer` logged at `ref` (eval mode, on the CPU)."""
    import mlflow
    import mlflow.pytorch

    from runner.servers.secrets import mask_url

    uri = model_uri(ref)
    if not Path(uri).is_dir():
        from runner.tracking.runs import connect

        connect(tracking_uri)  # a missing store or a server that does not answer: exit 2
    mlflow.set_tracking_uri(tracking_uri)
    # A model logged before models carried their code as _specsweep_model_<hash> names the
    # top-level `frontends` and `models`: it loads with the code installed here.
    import frontends.frontend  # noqa: F401
    import models.scoring  # noqa: F401

    try:
        scorer = mlflow.pytorch.load_model(uri, map_location="cpu")
    except (ImportError, AttributeError) as err:  # a pickle whose classes this code lacks
        raise UserError(
            f"model {ref}: its code does not load here ({type(err).__name__}: "
            f"{str(err)[:150]}); it was logged by another specsweep version: score it where "
            "that version is installed, or run its configuration again to log a new model"
        ) from None
    except Exception as err:  # MlflowException, OSError, RestException...
        text = str(err).strip().splitlines()
        raise UserError(
            f"model {ref}: cannot load it from {mask_url(tracking_uri)} "
            f"({text[0][:200] if text else type(err).__name__}); check the run id or name "
            "(and --tracking-uri)"
        ) from None
    for attribute in ("classes", "sample_rate", "clip_samples"):
        if not hasattr(scorer, attribute):
            raise UserError(
                f"model {ref}: not a specsweep model (it has no {attribute!r}); log one with "
                "`tracking.log_model` in a sweep"
            )
    return scorer.eval()


# --------------------------------------------------------------------------- the audio


def audio_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the audio files under each folder (recursively, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise UserError(
                    f"{p}: no audio files in this folder ({', '.join(AUDIO_EXTENSIONS)})"
                )
            out += found
        else:
            out.append(p)  # a missing or broken file is counted and named, not an error here
    return out


@dataclass(frozen=True)
class FileScores:
    path: Path
    duration_s: float
    starts_s: np.ndarray  # (n_windows,)
    ends_s: np.ndarray  # (n_windows,)
    scores: np.ndarray  # (n_windows, n_classes) probabilities


@torch.inference_mode()
def score_file(
    scorer, path: str | Path, *, hop_s: float, batch_size: int, device: torch.device | str
) -> FileScores:
    """Every window of one file through the scorer. Raises cache.BadAudio for a bad file."""
    from runner.data.cache import BadAudio, decode_blocks

    path = Path(path)
    if not path.is_file():
        raise BadAudio(str(path), "missing_file", "no such file")
    rate, clip_len = scorer.sample_rate, scorer.clip_samples
    hop_len = max(1, round(hop_s * rate))
    starts, ends, scores, batch = [], [], [], []
    total = 0

    def run(batch: list[np.ndarray]) -> None:
        x = torch.from_numpy(np.stack(batch)).to(device)  # (B, clip_len)
        scores.append(scorer(x).float().cpu().numpy())  # (B, C)

    def counted(blocks):
        nonlocal total
        for block in blocks:
            total += block.size
            yield block

    for start, window in sliding_windows(
        counted(decode_blocks(str(path), rate)), clip_len, hop_len
    ):
        starts.append(start)
        ends.append(start + window.size)
        batch.append(padded(window, clip_len))
        if len(batch) == batch_size:
            run(batch)
            batch = []
    if batch:
        run(batch)
    n_classes = len(scorer.classes)
    return FileScores(
        path=path,
        duration_s=total / rate,
        starts_s=np.asarray(starts, dtype=np.float64) / rate,
        ends_s=np.asarray(ends, dtype=np.float64) / rate,
        scores=np.concatenate(scores) if scores else np.zeros((0, n_classes), np.float32),
    )


# --------------------------------------------------------------------------- the outputs


class ScoresCsv:
    """`file,start_s,end_s,<class>...`: one row per window, probabilities to 6 decimals.

    Written beside `path` and renamed over it by `close(keep=True)`: an existing file is replaced
    only by a complete one, never by a header alone when nothing could be scored."""

    def __init__(self, path: Path, classes: tuple[str, ...]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.handle = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["file", "start_s", "end_s", *classes])

    def add(self, result: FileScores) -> None:
        for start, end, row in zip(result.starts_s, result.ends_s, result.scores):
            self.writer.writerow(
                [str(result.path), f"{start:.6f}", f"{end:.6f}", *(f"{v:.6f}" for v in row)]
            )

    def close(self, keep: bool = True) -> None:
        """Finish the file: `keep` puts it at `path`, else it is dropped and `path` left as it was."""
        self.handle.close()
        if keep:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def check_outputs(out: Path, raven: Path | None) -> None:
    """Refuse an --out or --raven that cannot be written, before the model is loaded or anything
    scored: a folder given as --out, a file given as --raven, a place without write access."""
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file such as {out / 'scores.csv'}")
    _check_writable_folder(out.parent, f"--out {out}")
    if raven is not None:
        if raven.exists() and not raven.is_dir():
            raise UserError(
                f"--raven {raven}: is a file; give a folder for the Raven tables (one per recording)"
            )
        _check_writable_folder(raven, f"--raven {raven}")


def _check_writable_folder(folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".specsweep-check-"):
            pass
    except OSError as err:
        raise UserError(
            f"{what}: cannot write in {folder} ({err.strerror or type(err).__name__}); give a "
            "path you can write to"
        ) from None


def raven_rows(
    result: FileScores, classes: tuple[str, ...], threshold: float, sample_rate: int
) -> list[list[str]]:
    """Raven selection-table rows: one box per window and class scoring at least `threshold`,
    spanning the window's time and the whole band (0 Hz to Nyquist)."""
    rows = []
    for start, end, row in zip(result.starts_s, result.ends_s, result.scores):
        for name, value in zip(classes, row):
            if value >= threshold:
                rows.append([
                    str(len(rows) + 1), "Spectrogram 1", "1", f"{start:.6f}", f"{end:.6f}",
                    "0.0", f"{sample_rate / 2:.1f}", name, f"{value:.6f}",
                ])  # fmt: skip
    return rows


def write_raven_table(out_dir: Path, result: FileScores, rows: list[list[str]], taken: set) -> Path:
    """`<recording>.Table.1.selections.txt` in `out_dir`, the name Raven gives a recording's table
    (so Raven, and specsweep's Raven reader, pair it with the recording); `<recording>-2...` when
    two recordings in different folders share a name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem, n = result.path.stem, 1
    while (name := stem if n == 1 else f"{stem}-{n}") in taken:
        n += 1
    taken.add(name)
    path = out_dir / f"{name}.Table.1.selections.txt"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(RAVEN_COLUMNS)
        writer.writerows(rows)
    return path


def check_options(hop_s: float | None, threshold: float, batch_size: int) -> None:
    if hop_s is not None and not (math.isfinite(hop_s) and hop_s > 0):
        raise UserError(f"--hop-s {hop_s}: must be a positive number of seconds")
    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"--threshold {threshold}: must be a probability between 0 and 1")
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
