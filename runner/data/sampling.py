"""Clip sampling from the audio cache: random crops for training, fixed windows for evaluation.

Both datasets yield `(waveform float32 (samples,), target float32 (n_classes,))` where
`samples = round(clip_s * sample_rate)` and the target is multi-hot.

Training (`TrainDataset`): one item per labelled segment; each time it is drawn, a random
`clip_s` crop inside the segment. `train_loader` builds whole batches where the loader runs (a
worker process, or the training process), seeded per (epoch, batch), so a batch never depends on
the number of workers. A segment shorter than a clip is kept whole and placed at a
random offset inside the clip, the rest zero-filled (silence, not repeated audio, so no call is
seen twice in one clip and no label is implied outside the annotated span).

Evaluation (`EvalDataset`): fixed windows, the same every time: a segment longer than a clip is
covered by windows every `eval_hop_s` plus one flush with its end; a shorter one is one window,
centred and zero-padded. Each window carries a `file_id`, so predictions can be max-aggregated
per file (`file_targets` are the union of the file's window labels).

Waveform normalisation (`none | peak | rms`) applies to the real samples, before padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from runner.cores import available_cores
from runner.data.cache import AudioCache

RMS_TARGET = 0.1  # -20 dBFS: leaves headroom for peaks after rms normalisation


def normalize_clip(x: np.ndarray, mode: str) -> np.ndarray:
    """Normalise a waveform `(samples,)` in place and return it: none, peak (max|x| = 1), rms."""
    if mode == "peak":
        peak = float(np.abs(x).max()) if x.size else 0.0
        if peak > 0:
            x *= 1.0 / peak
    elif mode == "rms":
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
        if rms > 0:
            x *= RMS_TARGET / rms
    elif mode != "none":
        raise ValueError(f"normalize: {mode!r} is not one of none, peak, rms")
    return x


def _place(x: np.ndarray, clip_len: int, offset: int) -> np.ndarray:
    """Zero-pad `x (n,)` with n <= clip_len into a clip `(clip_len,)`, starting at `offset`."""
    out = np.zeros(clip_len, dtype=np.float32)
    out[offset : offset + x.size] = x
    return out


class _Clips(Dataset):
    """Shared storage: per item a file of the cache and a sample range [start, stop) inside it."""

    def __init__(
        self,
        cache: AudioCache,
        files: np.ndarray,
        starts: np.ndarray,
        stops: np.ndarray,
        targets: np.ndarray,
        clip_len: int,
        normalize: str,
    ):
        self.cache = cache
        self.files = np.asarray(files, dtype=np.int64)  # (n,)
        self.starts = np.asarray(starts, dtype=np.int64)  # (n,) samples
        self.stops = np.asarray(stops, dtype=np.int64)  # (n,) samples
        self.targets = np.asarray(targets, dtype=np.float32)  # (n, n_classes) multi-hot
        self.clip_len = int(clip_len)
        self.normalize = normalize
        assert self.files.shape == self.starts.shape == self.stops.shape == self.targets.shape[:1]
        assert (self.stops > self.starts).all()

    def __len__(self) -> int:
        return int(self.files.size)

    @property
    def n_classes(self) -> int:
        return int(self.targets.shape[1])

    @property
    def sample_rate(self) -> int:
        return self.cache.sample_rate


class TrainDataset(_Clips):
    """Random `clip_len` crops inside each labelled segment (see the module docstring).

    Randomness comes from a per-process generator seeded with `(seed, DataLoader worker seed)`,
    so a seeded DataLoader gives the same crops on every run, and each worker its own stream.
    """

    def __init__(self, *args, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = int(seed)
        self._rng: np.random.Generator | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_rng"] = None  # each worker seeds its own
        return state

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            info = get_worker_info()
            self._rng = np.random.default_rng([self.seed, info.seed if info is not None else 0])
        return self._rng

    def crop(self, i: int, rng: np.random.Generator) -> np.ndarray:
        """A random `(clip_len,)` crop of item `i`, drawn from `rng`."""
        f, start, stop = int(self.files[i]), int(self.starts[i]), int(self.stops[i])
        length = stop - start
        if length >= self.clip_len:
            a = start + int(rng.integers(0, length - self.clip_len + 1))
            return normalize_clip(self.cache.read(f, a, a + self.clip_len), self.normalize)
        x = normalize_clip(self.cache.read(f, start, stop), self.normalize)
        return _place(x, self.clip_len, int(rng.integers(0, self.clip_len - length + 1)))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.crop(i, self._generator())
        return torch.from_numpy(x), torch.from_numpy(self.targets[i])


class EvalDataset(_Clips):
    """Fixed windows of at most `clip_len` samples; shorter ones are centred and zero-padded.

    `file_ids (n_windows,)` index `file_names`/`file_targets (n_files, n_classes)` for
    file-level max-aggregation.
    """

    def __init__(
        self,
        *args,
        name: str,
        file_ids: np.ndarray,
        file_names: tuple[str, ...],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.name = name
        self.file_ids = np.asarray(file_ids, dtype=np.int64)  # (n_windows,)
        self.file_names = tuple(file_names)
        file_targets = np.zeros((len(self.file_names), self.n_classes), dtype=np.float32)
        np.maximum.at(file_targets, self.file_ids, self.targets)
        self.file_targets = file_targets  # (n_files, n_classes): union of the windows' labels
        assert (self.stops - self.starts <= self.clip_len).all()

    @property
    def has_long_files(self) -> bool:
        """True when some file spans several windows, so file-level MAP differs from clip MAP."""
        return len(self.file_names) < len(self)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        f, start, stop = int(self.files[i]), int(self.starts[i]), int(self.stops[i])
        x = normalize_clip(self.cache.read(f, start, stop), self.normalize)
        if x.size < self.clip_len:
            x = _place(x, self.clip_len, (self.clip_len - x.size) // 2)
        return torch.from_numpy(x), torch.from_numpy(self.targets[i])


# ---- DataLoader defaults -------------------------------------------------------------------


def default_num_workers(cores: int | None = None) -> int:
    """Loader workers for a training process with `cores` (default: the cores this process may
    run on): one core for the training loop, the rest for workers, at most 4 (one worker streams
    far faster than a CNN consumes, see RESULTS.md), at least 0 (0 = load in the training
    process, which is what a single core should do)."""
    cores = available_cores() if cores is None else cores
    return max(0, min(4, cores - 1))


def _init_worker(worker_id: int) -> None:
    # One thread per worker: torch's default of one thread per core in every worker would
    # oversubscribe the cores the training step needs; and a forked worker running torch on one
    # thread never enters the OpenMP pool it inherited from the parent (which could hang it).
    torch.set_num_threads(1)
    np.random.seed(torch.initial_seed() % 2**32)


def _loader(dataset, num_workers: int | None, pin_memory: bool | None, **kwargs) -> DataLoader:
    """A DataLoader with the project's worker settings (`kwargs` say how to batch)."""
    workers = default_num_workers() if num_workers is None else num_workers
    return DataLoader(
        dataset,
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=_init_worker if workers > 0 else None,
        **kwargs,
    )


class BatchKey(NamedTuple):
    """Which batch to build: batch `index` of the epoch seeded `seed`, holding these `items`."""

    seed: int
    index: int
    items: np.ndarray  # (batch,) item indices into the TrainDataset


class EpochBatches(Sampler[BatchKey]):
    """The batches of one epoch: a permutation of the items seeded by `seed`, cut into batches.

    Set `seed` before iterating to start another epoch; the loader's workers persist between
    epochs, and everything random about a batch comes from its key, never from a worker's state.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int):
        self.n_items = int(n_items)
        self.batch_size = int(batch_size)
        # The last incomplete batch is dropped (a batch of one breaks BatchNorm), unless the
        # dataset is smaller than one batch.
        self.drop_last = self.n_items > self.batch_size
        self.seed = int(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n_items // self.batch_size
        return -(-self.n_items // self.batch_size)

    def __iter__(self) -> Iterator[BatchKey]:
        order = np.random.default_rng([self.seed, 0]).permutation(self.n_items)
        for b in range(len(self)):
            yield BatchKey(self.seed, b, order[b * self.batch_size : (b + 1) * self.batch_size])


# What the loader does to a stacked batch: `prepare(waveform (B, samples), target (B, n_classes),
# rng)` -> any batch the training loop understands (see runner.train.pipeline).
Prepare = Callable[[torch.Tensor, torch.Tensor, np.random.Generator], Any]


class _TrainBatches(Dataset):
    """Map-style dataset whose items are whole batches (keys from EpochBatches), built where the
    loader runs: crops stacked into one array, then `prepare` (augmentations, maybe the frontend).
    Crops and `prepare` draw from generators seeded by (epoch seed, batch index), so a batch is the
    same in a worker process or in the training process, with any number of workers."""

    def __init__(self, clips: TrainDataset, prepare: Prepare | None):
        self.clips = clips
        self.prepare = prepare

    def __getitem__(self, key: BatchKey):
        crop_rng = np.random.default_rng([key.seed, 1, key.index])
        waveform = np.empty((len(key.items), self.clips.clip_len), dtype=np.float32)
        for row, i in enumerate(key.items):
            waveform[row] = self.clips.crop(int(i), crop_rng)
        target = torch.from_numpy(self.clips.targets[key.items])  # fancy indexing copies
        if self.prepare is None:
            return torch.from_numpy(waveform), target
        prepare_rng = np.random.default_rng([key.seed, 2, key.index])
        return self.prepare(torch.from_numpy(waveform), target, prepare_rng)


def train_loader(
    dataset: TrainDataset,
    batch_size: int,
    *,
    seed: int,
    num_workers: int | None = None,
    pin_memory: bool | None = None,
    prepare: Prepare | None = None,
) -> DataLoader:
    """Shuffled batches `(waveform (B, samples), target (B, n_classes))`, or what `prepare` makes
    of them, with the project defaults.

    Each item of the underlying dataset is a whole batch, built (and prepared) in a worker
    process when there are workers, so that work overlaps the training step. Seeded: the order,
    the crops and `prepare`'s draws repeat for the same seed, whatever the number of workers. For
    the next epoch, set `loader.sampler.seed` and iterate again: the workers persist.
    """
    return _loader(
        _TrainBatches(dataset, prepare),
        num_workers,
        pin_memory,
        batch_size=None,  # the items are batches already
        sampler=EpochBatches(len(dataset), batch_size, seed),
    )


def eval_loader(
    dataset: EvalDataset,
    batch_size: int,
    *,
    num_workers: int | None = None,
    pin_memory: bool | None = None,
) -> DataLoader:
    """Batches of fixed windows in dataset order (so row i of the stacked outputs is window i)."""
    return _loader(dataset, num_workers, pin_memory, batch_size=batch_size, shuffle=False)
