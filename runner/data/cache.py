"""The decode-once audio cache: every file decoded, downmixed and resampled once, then memory-mapped.

A *pack* is one folder under `cache_dir`, named by a hash of the sample rate and of each file's
identity (real path, size in bytes, mtime in ns), so every trial, slot and later sweep over the
same files at the same rate shares it, and touching, adding or replacing a file makes a new
pack (in which only the new or changed files are decoded: the others' samples are copied from the
earlier packs at that rate):

    .specsweep/cache/sr22050-3f2a9c0d1e4b5a6f/
        audio.f32     every file's mono float32 samples, back to back
        index.json    per file: path, size, mtime_ns, offset, length (samples), status, detail

Building is safe when several processes start at once: the builder holds a file lock
(`runner.locks.file_lock`) on `<pack>.lock`, writes into a private temporary folder and
publishes it with one atomic `os.rename`; the others block on the lock, then find the finished
pack and reuse it.
A folder that exists under the pack's name is therefore always complete.

Resampling uses soxr (libsoxr, the resampler librosa uses by default) at its very-high-quality
setting, applied once per file at build time. Files are read and resampled a block at a time
(`decode_blocks`, `StreamResampler`: soxr's streaming interface, whose output is the same samples
as resampling the whole file in one call), so a multi-hour recording never sits in memory whole.

Reading memory-maps `audio.f32` and copies each clip out. After the copy the clip's pages are
dropped from this process's page table (`madvise(MADV_DONTNEED)`; the data stays in the
kernel's shared page cache), so a worker's resident memory stays flat however much of a large
pack it streams; see benchmarks/RESULTS.md for the measurement.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from runner.errors import DiskFull, disk_full_path
from runner.locks import file_lock

log = logging.getLogger(__name__)

CACHE_VERSION = 1
# soxr's very-high-quality preset (libsoxr's SOXR_VHQ: 28-bit precision). The RESAMPLER string
# is part of every pack's key: packs made by another resampler (torchaudio's windowed sinc, before
# 2026-12) or another libsoxr are rebuilt, never mixed with these.
RESAMPLE_QUALITY = "VHQ"
RESAMPLER = f"soxr(quality={RESAMPLE_QUALITY}, libsoxr={soxr.__libsoxr_version__})"
# A file whose peak is below this (-120 dBFS) is "all silent": a broken recorder, not a quiet bird.
SILENT_PEAK = 1e-6
_PAGE = mmap.PAGESIZE
_FOLIO = 2 << 20  # the largest page-cache folio a fault maps at once (a PMD on x86-64)

# Why a file cannot be used; the dataset layer turns these into errors or skip counts.
OK = "ok"
BAD_REASONS = ("missing_file", "unreadable", "empty", "silent", "nan")


class BadAudio(Exception):
    """A file that cannot be used as audio. `reason` is one of BAD_REASONS."""

    def __init__(self, path: str, reason: str, detail: str):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path, self.reason, self.detail = path, reason, detail


@dataclass(frozen=True)
class FileIdentity:
    path: str  # real, absolute path
    size: int  # bytes
    mtime_ns: int


def file_identity(path: str | os.PathLike) -> FileIdentity:
    """(real path, size, mtime) of an existing file; raises FileNotFoundError otherwise."""
    real = os.path.realpath(path)
    st = os.stat(real)
    if not os.path.isfile(real):
        raise FileNotFoundError(real)
    return FileIdentity(real, st.st_size, st.st_mtime_ns)


def pack_key(files: Sequence[FileIdentity], sample_rate: int) -> str:
    """Folder name of the pack for these files at this rate; independent of their order."""
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, RESAMPLER, int(sample_rate)]).encode())
    for f in sorted(files, key=lambda f: f.path):
        h.update(json.dumps([f.path, f.size, f.mtime_ns]).encode())
    return f"sr{int(sample_rate)}-{h.hexdigest()[:16]}"


# Decoding reads files this many frames at a time (about 45 s at 44.1 kHz), so a multi-hour field
# recording never sits in memory whole: memory per builder is a block, not a file.
DECODE_BLOCK_FRAMES = 1 << 21


def decode_blocks(
    path: str, sample_rate: int, block_frames: int | None = None
) -> Iterator[np.ndarray]:
    """Decode one file to mono float32 at `sample_rate`, a block `(samples,)` at a time, values in
    [-1, 1]; the blocks put end to end are the whole file, resampled as one signal.

    Multi-channel audio is downmixed by averaging the channels. Raises BadAudio (unreadable,
    empty, nan, silent) for a file that is not usable audio; `nan` and `silent` may come after
    some blocks were yielded (silence is only known at the end), so a caller that writes blocks
    out must be ready to take them back.
    """
    block_frames = block_frames or DECODE_BLOCK_FRAMES
    try:
        sound = sf.SoundFile(path)
    except Exception as err:  # libsndfile raises several types for damaged files
        raise BadAudio(path, "unreadable", f"soundfile cannot decode it ({err})") from None
    with sound:
        file_rate = int(sound.samplerate)
        resampler = None if file_rate == sample_rate else StreamResampler(file_rate, sample_rate)
        frames, peak = 0, 0.0
        while True:
            try:
                data = sound.read(block_frames, dtype="float32", always_2d=True)  # (n, channels)
            except Exception as err:
                raise BadAudio(
                    path, "unreadable", f"soundfile cannot decode it after {frames} frames ({err})"
                ) from None
            if data.shape[0] == 0:
                break
            mono = data.mean(axis=1, dtype=np.float32)  # (n,)
            if not np.isfinite(mono).all():
                bad = int((~np.isfinite(mono)).sum())
                where = f"{mono.size} samples from frame {frames} on"
                raise BadAudio(path, "nan", f"{bad} of {where} are NaN or infinite")
            frames += mono.size
            peak = max(peak, float(np.abs(mono).max()))
            yield mono if resampler is None else resampler.push(mono)
        if frames == 0:
            raise BadAudio(path, "empty", "the file has zero samples")
        if peak < SILENT_PEAK:
            raise BadAudio(path, "silent", "every sample is zero (below -120 dBFS)")
        if resampler is not None:
            yield resampler.finish()


class StreamResampler:
    """soxr resampling (the cache's RESAMPLER) of a mono signal that arrives in pieces.

    A thin wrapper of `soxr.ResampleStream`: `push` returns the output samples the input so far
    determines, `finish` flushes the filter's delay line. Put end to end, the pieces are exactly
    `soxr.resample(whole_signal, orig_freq, new_freq, quality=RESAMPLE_QUALITY)`, whatever the
    block sizes (1 sample to the whole file; tests/data/test_data_cache.py), including the length:
    round(length * new_freq / orig_freq). Memory is a block and the filter's state.
    """

    def __init__(self, orig_freq: int, new_freq: int):
        self.orig_freq, self.new_freq = int(orig_freq), int(new_freq)
        self._stream = soxr.ResampleStream(
            self.orig_freq, self.new_freq, 1, dtype="float32", quality=RESAMPLE_QUALITY
        )
        self.received = 0  # input samples pushed
        self.emitted = 0  # output samples returned

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Take the next input samples `(n,)`; return the output samples they complete."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        out = self._stream.resample_chunk(samples, last=False)
        self.received += samples.size
        self.emitted += out.size
        return out

    def finish(self) -> np.ndarray:
        """The last output samples (the filter's delay line); the stream is done after this."""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self.emitted += out.size
        return out


class AudioCache:
    """A published pack, memory-mapped for reading. Cheap to pickle: each process maps it anew.

    `n_decoded` is how many files this call decoded (0 when the pack was reused).
    """

    def __init__(self, root: Path, index: dict, n_decoded: int):
        self.root = Path(root)
        self.sample_rate = int(index["sample_rate"])
        entries = index["files"]
        self.paths: tuple[str, ...] = tuple(e["path"] for e in entries)
        self.offsets = np.array([e["offset"] for e in entries], dtype=np.int64)
        self.lengths = np.array([e["length"] for e in entries], dtype=np.int64)
        self.status: tuple[str, ...] = tuple(e["status"] for e in entries)
        self.detail: tuple[str, ...] = tuple(e["detail"] for e in entries)
        self.n_decoded = n_decoded
        self._pos = {p: i for i, p in enumerate(self.paths)}
        self._mm: mmap.mmap | None = None
        self._samples: np.ndarray | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_mm"] = state["_samples"] = None  # mapped again lazily in the receiving process
        return state

    def __len__(self) -> int:
        return len(self.paths)

    def index_of(self, path: str | os.PathLike) -> int:
        return self._pos[os.path.realpath(path)]

    @property
    def total_samples(self) -> int:
        return int(self.lengths.sum())

    def _map(self) -> np.ndarray:
        if self._samples is None:
            path = self.root / "audio.f32"
            if path.stat().st_size == 0:
                self._samples = np.zeros(0, dtype=np.float32)
            else:
                with open(path, "rb") as fh:
                    self._mm = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
                self._samples = np.frombuffer(self._mm, dtype=np.float32)
        return self._samples

    def read(self, file_index: int, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) of one file as a new float32 array `(stop - start,)`.

        The range must lie inside the file (the samplers guarantee it).
        """
        length = int(self.lengths[file_index])
        if not (0 <= start <= stop <= length):
            raise IndexError(f"samples [{start}, {stop}) outside file of {length} samples")
        samples = self._map()
        a = int(self.offsets[file_index]) + start
        b = a + (stop - start)
        clip = np.array(samples[a:b], dtype=np.float32)  # a copy: the map may be dropped below
        if self._mm is not None and b > a:
            # Drop what this read mapped from the process's resident set: the kernel keeps the
            # pages in its shared page cache, so re-reading is a minor fault, but RSS stays flat.
            # A fault maps the whole page-cache folio around the address (up to 2 MB on recent
            # kernels), so the dropped range extends that far on each side of the clip.
            first = max(0, (a * 4 - _FOLIO) // _PAGE * _PAGE)
            last = min(len(self._mm), b * 4 + _FOLIO)
            self._mm.madvise(mmap.MADV_DONTNEED, first, last - first)
        return clip


def open_cache(
    paths: Sequence[str | os.PathLike],
    sample_rate: int,
    cache_dir: str | os.PathLike,
    *,
    fail_fast: bool = True,
    on_file: Callable[[int, int], None] | None = None,
) -> AudioCache:
    """Open the pack for `paths` at `sample_rate`, building it first if no process has yet.

    Every path must exist (callers check, so that a missing file is reported with its manifest
    row). With `fail_fast`, the first bad file raises BadAudio and nothing is published; without
    it, bad files are recorded in the index with their reason (length 0) and the pack is
    published. `on_file(done, total)` is called after each decoded file, for progress.
    """
    files = sorted({file_identity(p) for p in paths}, key=lambda f: f.path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = pack_key(files, sample_rate)
    root = cache_dir / key
    index = _read_index(root)
    if index is not None:
        return AudioCache(root, index, n_decoded=0)
    with file_lock(cache_dir / f"{key}.lock"):  # blocks while another process builds this pack
        index = _read_index(root)  # built by the process we waited for?
        if index is not None:
            return AudioCache(root, index, n_decoded=0)
        if root.exists():  # a folder without an index is not ours to trust
            shutil.rmtree(root)
        index, n_decoded = _build(files, sample_rate, cache_dir, root, fail_fast, on_file)
        return AudioCache(root, index, n_decoded=n_decoded)


def _read_index(root: Path) -> dict | None:
    try:
        return json.loads((root / "index.json").read_text())
    except FileNotFoundError:
        return None


def _decoded_elsewhere(cache_dir: Path, sample_rate: int) -> dict[tuple, tuple[Path, int, int]]:
    """What the other packs at this rate already hold, decoded the same way (cache version and
    resampler): (path, size, mtime_ns) -> (their audio.f32, offset, length), for good files.

    A pack folder with an index is complete (it was published by one rename), so its samples can
    be copied instead of decoded again: a dataset that gains, loses or changes a few files
    decodes only those.
    """
    found: dict[tuple, tuple[Path, int, int]] = {}
    for index_path in sorted(cache_dir.glob(f"sr{int(sample_rate)}-*/index.json")):
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError):
            continue  # removed meanwhile, or not ours: decoding is always correct
        if [index.get("version"), index.get("resampler"), index.get("sample_rate")] != [
            CACHE_VERSION, RESAMPLER, int(sample_rate)
        ]:  # fmt: skip
            continue
        audio = index_path.parent / "audio.f32"
        for e in index.get("files", []):
            if e.get("status") == OK and e.get("length", 0) > 0:
                key = (e["path"], e["size"], e["mtime_ns"])
                found.setdefault(key, (audio, int(e["offset"]), int(e["length"])))
    return found


def _copy_samples(source: tuple[Path, int, int] | None) -> np.ndarray | None:
    """The samples at `source` (audio file, offset, length), or None if they cannot be read."""
    if source is None:
        return None
    audio, offset, length = source
    try:
        samples = np.fromfile(audio, dtype=np.float32, count=length, offset=4 * offset)
    except (OSError, ValueError):
        return None  # the other pack was deleted meanwhile: decode instead
    return samples if samples.size == length else None


def _build(
    files: Sequence[FileIdentity],
    sample_rate: int,
    cache_dir: Path,
    root: Path,
    fail_fast: bool,
    on_file: Callable[[int, int], None] | None,
) -> tuple[dict, int]:
    """Write the pack `root` for `files`; returns its index and how many files were decoded
    (the others were copied from earlier packs, see `_decoded_elsewhere`)."""
    # Folders left by a builder that died: only a lock holder writes them, and we hold it.
    for stale in cache_dir.glob(f".tmp-{root.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{root.name}-", dir=cache_dir))
    t0 = time.perf_counter()
    elsewhere = _decoded_elsewhere(cache_dir, sample_rate)
    log.info("building the audio cache %s for %d files", root, len(files))
    entries, offset, n_decoded = [], 0, 0
    try:
        with open(tmp / "audio.f32", "wb") as out:
            for i, f in enumerate(files):
                status, detail, length = OK, "", 0
                samples = _copy_samples(elsewhere.get((f.path, f.size, f.mtime_ns)))
                if samples is not None:
                    out.write(samples.tobytes())
                    length = samples.size
                else:
                    n_decoded += 1
                    try:
                        for block in decode_blocks(f.path, sample_rate):
                            out.write(block.tobytes())
                            length += block.size
                    except BadAudio as bad:
                        if fail_fast:
                            raise
                        status, detail, length = bad.reason, bad.detail, 0
                        out.seek(4 * offset)  # take back what the bad file wrote
                        out.truncate()
                entries.append(
                    dict(path=f.path, size=f.size, mtime_ns=f.mtime_ns, offset=offset,
                         length=length, status=status, detail=detail)
                )  # fmt: skip
                offset += length
                if on_file is not None:
                    on_file(i + 1, len(files))
            out.flush()
            os.fsync(out.fileno())
        index = dict(
            version=CACHE_VERSION, sample_rate=int(sample_rate), resampler=RESAMPLER,
            total_samples=offset, build_s=round(time.perf_counter() - t0, 3), files=entries,
        )  # fmt: skip
        (tmp / "index.json").write_text(json.dumps(index))
        os.rename(tmp, root)  # atomic: the pack appears whole or not at all
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if disk_full_path(err) is not None:  # one line naming the cache, not a traceback
            raise DiskFull(str(cache_dir.resolve())) from err
        raise
    log.info(
        "cached %d files (%.1f min of audio; %d decoded, %d copied from earlier packs) in %.1f s",
        len(files), offset / sample_rate / 60, n_decoded, len(files) - n_decoded,
        time.perf_counter() - t0,
    )  # fmt: skip
    return index, n_decoded
