"""Preemption-safe trial checkpoints: one file per trial, replaced atomically after every epoch.

    directory = checkpoint_dir(".specsweep/checkpoints", "demo", "3f2a9c0d1e2b", seed=0)
    state = load_checkpoint(directory)      # None, or the dict of the last complete epoch
    save_checkpoint(directory, {...})       # write to a temporary file, fsync, rename over

A trial is identified by (sweep, cfg_key, seed); a trial started again with the same identity
finds the last complete epoch here and continues from it. The file is written next to its final
name and renamed over it (atomic on POSIX), so a process killed mid-write leaves the previous
epoch's checkpoint intact, never a torn one.

Random generator states (torch CPU and CUDA, numpy, Python) are part of the checkpoint, so the
epochs after a resume draw the same numbers as an uninterrupted run would have.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runner.errors import DiskFull, disk_full_path

CHECKPOINT_FILE = "last.pt"
FORMAT_VERSION = 1


def checkpoint_dir(root: str | Path, sweep: str, cfg_key: str, seed: int) -> Path:
    """`<root>/<sweep>/<cfg_key>-s<seed>/`: the trial's own folder."""
    return Path(root) / sweep / f"{cfg_key}-s{seed}"


def save_checkpoint(directory: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` (tensors, numbers, strings, lists, dicts) atomically; returns the file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / CHECKPOINT_FILE
    # Serialised in memory first: a full disk is then an OSError from write() (ENOSPC), not
    # torch's "unexpected pos" from inside its zip writer.
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **state}, buffer)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".last-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if disk_full_path(err) is not None:
            raise DiskFull(str(directory.resolve())) from err
        raise
    _fsync_dir(directory)  # make the rename itself durable
    return final


def load_checkpoint(directory: str | Path) -> dict[str, Any] | None:
    """The last complete checkpoint in `directory`, or None if there is none.

    Loaded with `weights_only=True`: only tensors and plain containers, never arbitrary objects.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format {state.get('format')} is not {FORMAT_VERSION}; "
            "delete the folder to start the trial from scratch"
        )
    return state


def load_or_set_aside(directory: str | Path) -> tuple[dict[str, Any] | None, Path | None]:
    """`load_checkpoint`, except that a file that does not load (truncated, garbage) is moved
    beside the trial's folder, to `<folder>.damaged-<time>.pt` (the folder goes when the trial
    finishes), and the trial starts from scratch: (None, its new absolute path).

    A checkpoint is written by rename, so damage means something outside this code (a copy cut
    short, a file system that lost data); a rerun must not fail on it again and again.
    """
    path = Path(directory) / CHECKPOINT_FILE
    try:
        return load_checkpoint(directory), None
    except OSError:
        raise  # cannot read it (permissions, I/O): not the file's fault, keep it
    except Exception:
        folder = path.parent.resolve()
        aside = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}.pt")
        os.replace(path, aside)
        return None, aside


def remove_checkpoint(directory: str | Path) -> None:
    """Delete the trial's checkpoint folder (after it finished: nothing left to resume)."""
    shutil.rmtree(directory, ignore_errors=True)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not every platform opens directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- random generators


def rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Every global random generator's state, as tensors and plain values (weights_only-safe):
    CPU ones, and the CUDA generator of the trial's `device` only (a resumed trial may see
    other GPUs, or fewer)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": _to_lists(random.getstate()),
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what `rng_state` returned; the CUDA generator onto the trial's `device`."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(_to_tuples(state["python"]))
    cuda = state.get("cuda")
    if cuda is not None and device is not None and device.type == "cuda":
        if isinstance(cuda, list):  # written before one device's state was kept: every GPU's
            cuda = cuda[device.index or 0] if len(cuda) > (device.index or 0) else None
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, device)


def _to_lists(value):
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value


def _to_tuples(value):
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value
