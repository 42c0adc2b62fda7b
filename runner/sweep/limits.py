"""Sizes that would exhaust memory, refused while the sweep file is validated (computed, never
allocated): the trials in a grid, the seeds, and each trial's spectrogram and image.

    check_seed_count(10_000_000)             # ConfigError: seeds: ... the limit is 1,000
    check_trial_count(250_000, allow_large, "12 x ... grid points x 2 seeds")  # unless --allow-large
    check_trial_sizes(data, frontend, train)  # ConfigError naming frontend.image_size, ...

The limits, and what they are for:

    MAX_TRIALS        100,000   trials in one sweep (points x seeds). Each is a training run;
                                a bigger grid is usually a typo (an axis listed twice, seeds in
                                the millions). `--allow-large` lifts it.
    MAX_SEEDS         1,000     replicates per configuration (the Merlin study used a few to
                                estimate the spread).
    MAX_IMAGE_PIXELS  2^24      pixels of one example's image (H x W) and of its spectrogram
                                before the resize (bands x frames, FFT bins x frames):
                                4096 x 4096, 64 MiB per float32 channel.
    MAX_BATCH_BYTES   16 GiB    one training batch's largest tensor: the STFT (complex64) or the
                                image (float32, every channel).
    MAX_EPOCHS        10,000    train.epochs of one trial (the seed study trained 90).
    MAX_CLIPS         1,000,000 clips in one split of the synthetic set (data.synthetic.n_train,
                                n_test, n_field): each is generated and written to disk.
    MAX_SLOTS         256       trials at once on one machine (`--slots`, resources.slots): each
                                is a process with torch loaded (about 0.5 GB) and a warm spare
                                beside it. `--allow-large` lifts it.
    MAX_JOBS_PER_GPU  16        trials sharing one GPU (`--jobs-per-gpu`); `--allow-large`.

The Merlin study's largest image is 128 x 1024 (0.13 M pixels); a batch of 64 of them is 32 MiB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.errors import ConfigError

if TYPE_CHECKING:
    from frontends import FrontendConfig
    from runner.data import DataConfig
    from runner.sweep.train_config import TrainConfig

MAX_TRIALS = 100_000
MAX_SEEDS = 1_000
MAX_IMAGE_PIXELS = 1 << 24
MAX_BATCH_BYTES = 16 << 30
MAX_EPOCHS = 10_000
MAX_CLIPS = 1_000_000
MAX_SLOTS = 256
MAX_JOBS_PER_GPU = 16


def check_seed_count(n_seeds: int) -> None:
    if n_seeds > MAX_SEEDS:
        raise ValueError(
            f"seeds: {n_seeds:,} replicates is over the limit of {MAX_SEEDS:,} per configuration; "
            "give a count like 3 or a list of seeds"
        )


def check_trial_count(n_trials: int, allow_large: bool, what: str) -> None:
    """`what` says how the count arose, e.g. '12 x 3 x 4 grid points x 2 seeds'."""
    if n_trials > MAX_TRIALS and not allow_large:
        raise ConfigError(
            f"grid: {what} = {n_trials:,} trials, over the limit of {MAX_TRIALS:,}; check the axes "
            "for a typo, or pass --allow-large if you mean it"
        )


def check_parallelism(slots: int | None, jobs_per_gpu: int, allow_large: bool) -> None:
    """Refuse more trials at once than one machine can hold (each a process with torch)."""
    if allow_large:
        return
    if slots is not None and slots > MAX_SLOTS:
        raise ConfigError(
            f"slots: {slots:,} trials at once is over the limit of {MAX_SLOTS} (each is a process "
            "with torch loaded, about 0.5 GB); give --slots a smaller number, or pass "
            "--allow-large if this machine can hold them"
        )
    if jobs_per_gpu > MAX_JOBS_PER_GPU:
        raise ConfigError(
            f"jobs_per_gpu: {jobs_per_gpu:,} trials per GPU is over the limit of "
            f"{MAX_JOBS_PER_GPU}; give --jobs-per-gpu a smaller number, or pass --allow-large "
            "if you mean it"
        )


def _check_counts(data: DataConfig, train: TrainConfig) -> None:
    """Counts that would run for days or fill the disk: a typo, refused before anything starts."""
    if train.epochs > MAX_EPOCHS:
        raise ConfigError(
            f"train.epochs: {train.epochs:,} is over the limit of {MAX_EPOCHS:,}; the seed study "
            "trained 90 epochs (a typo?)"
        )
    if data.kind != "synthetic":
        return
    for name in ("n_train", "n_test", "n_field"):
        value = getattr(data.synthetic, name)
        if value > MAX_CLIPS:
            raise ConfigError(
                f"data.synthetic.{name}: {value:,} clips is over the limit of {MAX_CLIPS:,} per "
                "split (each is generated and written to disk); give a smaller count"
            )


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 30):.1f} GiB"


def check_trial_sizes(data: DataConfig, fe: FrontendConfig, train: TrainConfig) -> None:
    """Refuse a trial whose spectrogram, image or batch would not fit in memory (its sections:
    this module sits below `runner.sweep.spec`, which calls it while building a TrialConfig)."""
    n_samples = round(data.clip_s * fe.sample_rate)
    n_frames = (
        1 + n_samples // fe.hop_length if fe.center else 1 + (n_samples - fe.n_fft) // fe.hop_length
    )
    n_bins = fe.n_fft // 2 + 1
    n_bands = n_bins if fe.scale == "linear" else fe.n_mels
    height, width = fe.image_size if fe.image_size is not None else (n_bands, n_frames)
    channels = fe.out_channels
    batch = train.batch_size
    _check_counts(data, train)

    if height * width > MAX_IMAGE_PIXELS:
        key = "frontend.image_size" if fe.image_size is not None else "frontend.hop_length"
        raise ConfigError(
            f"{key}: the image is {height:,} x {width:,} = {height * width:,} pixels "
            f"({_gib(4 * height * width)} per float32 channel), over the limit of "
            f"{MAX_IMAGE_PIXELS:,} (4096 x 4096); use a smaller image_size"
            + ("" if fe.image_size is not None else ", a larger hop or a shorter data.clip_s")
        )
    if n_bins * n_frames > MAX_IMAGE_PIXELS:
        raise ConfigError(
            f"frontend.hop_length: the spectrogram of a {data.clip_s:g} s clip is {n_bins:,} FFT "
            f"bins x {n_frames:,} frames = {n_bins * n_frames:,} values, over the limit of "
            f"{MAX_IMAGE_PIXELS:,}; use a larger hop_length, a smaller n_fft or a shorter "
            "data.clip_s"
        )
    stft_bytes = 8 * batch * n_bins * n_frames  # complex64
    image_bytes = 4 * batch * channels * height * width
    if max(stft_bytes, image_bytes) > MAX_BATCH_BYTES:
        what = (
            f"its STFT is {_gib(stft_bytes)}" if stft_bytes >= image_bytes
            else f"its {channels}-channel images are {_gib(image_bytes)}"
        )  # fmt: skip
        raise ConfigError(
            f"train.batch_size: a batch of {batch} would not fit in memory ({what}, over the "
            f"{_gib(MAX_BATCH_BYTES)} limit); use a smaller batch_size or image"
        )
