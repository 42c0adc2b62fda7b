"""Data benchmarks: cache build and reuse, clip streaming vs a training step, worker RSS on 1 GB.

    .venv/bin/python benchmarks/bench_data.py            # about 3 minutes on a 2-core CPU
    .venv/bin/python benchmarks/bench_data.py --quick    # smaller sizes, for a smoke run

Everything is written under a temporary folder and deleted afterwards (the 1 GB cache too).
Prints a Markdown report; the figures in benchmarks/RESULTS.md come from this script.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from runner.cores import available_cores
from runner.data import DataConfig, SyntheticConfig, default_num_workers, load_dataset, train_loader
from runner.data.cache import AudioCache, open_cache
from runner.data.sampling import TrainDataset
from runner.tracking.trial_runs import cpu_model

SR = 22050
CLIP_S = 3.0


def write_noise_files(folder: Path, n: int, seconds: float, sr: int, channels: int) -> list[Path]:
    """Real audio files of pink-ish noise (int16 WAV), written with soundfile."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        x = rng.standard_normal((round(seconds * sr), channels)).astype(np.float32)
        x = np.cumsum(x, axis=0) * 0.01  # brown-ish, bounded below
        x = (x - x.mean(axis=0)) / (np.abs(x).max() + 1e-9) * 0.5
        path = folder / f"noise_{i:04d}.wav"
        sf.write(path, x, sr, subtype="PCM_16")
        paths.append(path)
    return paths


def bench_cache(tmp: Path, quick: bool) -> list[str]:
    rows = []
    synth = dataclasses.replace(SyntheticConfig(), output_dir=str(tmp / "data"))
    if quick:
        synth = dataclasses.replace(synth, n_train=128, n_test=32, n_field=32)
    cfg = DataConfig(synthetic=synth, cache_dir=str(tmp / "cache"))
    t0 = time.perf_counter()
    from runner.data.synthetic import ensure_synthetic

    manifest = ensure_synthetic(cfg)
    gen_s = time.perf_counter() - t0
    n_files = synth.n_train + synth.n_test + synth.n_field
    rows.append(
        f"| synthetic default set generated ({n_files} FLAC clips, {available_cores()} processes) | {gen_s:.1f} s |"
    )
    paths = sorted(manifest.parent.rglob("*.flac"))
    cases = [("synthetic FLAC, 3 s mono 22050 Hz (no resampling)", paths)]
    n_long = 8 if quick else 40
    long_paths = write_noise_files(tmp / "long", n_long, 30.0, 44100, 2)
    cases.append(
        (f"{n_long} x 30 s stereo WAV 44.1 kHz (downmix + resample to 22.05 kHz)", long_paths)
    )
    for name, files in cases:
        t0 = time.perf_counter()
        cache = open_cache(files, SR, tmp / "cache")
        build_s = time.perf_counter() - t0
        assert cache.n_decoded == len(files)
        audio_s = sum(sf.info(str(p)).duration for p in files)
        t0 = time.perf_counter()
        again = open_cache(files, SR, tmp / "cache")
        reuse_s = time.perf_counter() - t0
        assert again.n_decoded == 0
        rows.append(
            f"| cache build: {name} | {len(files) / build_s:.0f} files/s, {audio_s / build_s:.0f} audio-s/s "
            f"({build_s:.1f} s for {audio_s / 60:.1f} min) |"
        )
        rows.append(
            f"| cache reuse (second open, {len(files)} files: stat + index) | {reuse_s * 1000:.0f} ms |"
        )
        os.utime(files[0])  # one file edited (new mtime): a new pack, one file to decode
        t0 = time.perf_counter()
        edited = open_cache(files, SR, tmp / "cache")
        edited_s = time.perf_counter() - t0
        assert edited.n_decoded == 1 and edited.root != cache.root
        rows.append(
            f"| new pack after 1 of {len(files)} files changed (decode 1, copy the rest) | "
            f"{edited_s:.2f} s = {build_s / edited_s:.1f}x faster than the first build |"
        )
    t0 = time.perf_counter()
    load_dataset(cfg, SR, ("test", "field"), seed=0)
    rows.append(
        f"| `load_dataset` of the synthetic set on reuse (parse manifest, open cache, build splits) | {(time.perf_counter() - t0) * 1000:.0f} ms |"
    )
    return rows


def streaming_rate(ds: TrainDataset, batch_size: int, num_workers: int, n_batches: int) -> float:
    loader = train_loader(ds, batch_size, seed=0, num_workers=num_workers)
    it = iter(loader)
    next(it)  # worker start-up is not streaming
    t0 = time.perf_counter()
    n = 0
    while n < n_batches:
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            continue
        n += 1
    return n * batch_size / (time.perf_counter() - t0)


def consumption_rate(n_classes: int, batch_size: int, steps: int) -> tuple[float, float]:
    """Clips/s of a training step: mel-dB stand-in frontend + timm resnet18 (1 channel, 128x512)."""
    import timm

    from frontends import functional as F

    window = F.make_window("hann", 512, torch.float32)
    filterbank = F.mel_filterbank(SR, 512, 128, dtype=torch.float32)  # (128, 257)

    def mel(x):
        return filterbank @ F.spectrogram(x, window, n_fft=512, hop_length=128)  # (B, 128, T)

    def to_db(power):
        image = 10 * torch.log10(power.clamp_min(1e-10))
        return torch.maximum(image, image.amax(dim=(-2, -1), keepdim=True) - 80.0)  # top_db=80

    model = timm.create_model("resnet18", pretrained=False, in_chans=1, num_classes=n_classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(batch_size, round(CLIP_S * SR)) * 0.1
    y = (torch.rand(batch_size, n_classes) < 0.1).float()

    def step():
        image = to_db(mel(x)).unsqueeze(1)  # (B, 1, 128, 517)
        image = torch.nn.functional.interpolate(image, size=(128, 512), mode="bilinear")
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(image), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    per_step = (time.perf_counter() - t0) / steps
    return batch_size / per_step, per_step


def bench_streaming(tmp: Path, quick: bool) -> list[str]:
    synth = dataclasses.replace(SyntheticConfig(), output_dir=str(tmp / "data"))
    if quick:
        synth = dataclasses.replace(synth, n_train=128, n_test=32, n_field=32)
    ds = load_dataset(
        DataConfig(synthetic=synth, cache_dir=str(tmp / "cache")), SR, ("test",), seed=0
    )
    workers = default_num_workers()
    stream = streaming_rate(ds.train, 32, workers, 40 if quick else 200)
    stream0 = streaming_rate(ds.train, 32, 0, 20 if quick else 100)
    consume, per_step = consumption_rate(len(ds.classes), 32, 1 if quick else 3)
    return [
        f"| clip streaming, `train_loader` defaults ({workers} worker, batch 32, 3 s clips) | {stream:.0f} clips/s |",
        f"| clip streaming, in-process (num_workers=0) | {stream0:.0f} clips/s |",
        f"| training step: mel-dB + timm resnet18, 1x128x512, batch 32, SGD, {torch.get_num_threads()} threads | "
        f"{per_step:.2f} s/step = {consume:.1f} clips/s |",
        f"| **streaming / consumption** (must be >= 20) | **{stream / consume:.0f}x** |",
    ]


class PlainMemmapCache(AudioCache):
    """The control for the RSS measurement: read through np.memmap, pages left mapped."""

    def read(self, file_index: int, start: int, stop: int) -> np.ndarray:
        if self._samples is None:
            self._samples = np.memmap(self.root / "audio.f32", dtype=np.float32, mode="r")
        a = int(self.offsets[file_index]) + start
        return np.array(self._samples[a : a + stop - start])


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def stream_and_watch_worker(ds: TrainDataset) -> dict[str, float]:
    """One epoch through a 1-worker loader; sample the worker's /proc status as it streams."""
    loader = train_loader(ds, 32, seed=0, num_workers=1)
    it = iter(loader)
    next(it)
    (worker,) = [p for p in _children(os.getpid()) if Path(f"/proc/{p}/status").exists()][-1:]
    start = _status_kb(worker)
    peak = dict(start)
    t0, n = time.perf_counter(), 0
    for i, _ in enumerate(it):
        n += 1
        if i % 8 == 0:
            now = _status_kb(worker)
            peak = {k: max(peak[k], now[k]) for k in peak}
    rate = n * 32 / (time.perf_counter() - t0)
    end = _status_kb(worker)
    peak = {k: max(peak[k], end[k]) for k in peak}
    del it, loader
    return dict(
        start_rss_mb=start["VmRSS"] / 1024, peak_rss_mb=end["VmHWM"] / 1024,
        peak_file_mb=peak["RssFile"] / 1024, start_file_mb=start["RssFile"] / 1024,
        peak_anon_mb=peak["RssAnon"] / 1024, start_anon_mb=start["RssAnon"] / 1024, clips_s=rate,
    )  # fmt: skip


def bench_rss(tmp: Path, quick: bool) -> list[str]:
    gb = 0.125 if quick else 1.0
    n_files = 32
    seconds = gb * 2**30 / 4 / SR / n_files
    t0 = time.perf_counter()
    paths = write_noise_files(tmp / "big", n_files, seconds, SR, 1)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache = open_cache(paths, SR, tmp / "bigcache")
    build_s = time.perf_counter() - t0
    size_mb = (cache.root / "audio.f32").stat().st_size / 2**20
    clip = round(CLIP_S * SR)
    files, starts = [], []
    for f in range(len(cache)):  # 3 s segments tiling every file: one epoch touches every page
        for a in range(0, int(cache.lengths[f]) - clip + 1, clip):
            files.append(f)
            starts.append(a)
    files_a, starts_a = np.array(files), np.array(starts)
    targets = np.zeros((files_a.size, 4), dtype=np.float32)
    rows = [
        f"| 1 GB cache: {n_files} WAV files ({n_files * seconds / 3600:.1f} h at 22.05 kHz) written in {write_s:.0f} s, "
        f"cached in {build_s:.0f} s ({n_files * seconds / build_s:.0f} audio-s/s) | {size_mb:.0f} MiB pack |"
    ]
    for name, reader in (("ours: mmap + MADV_DONTNEED", cache), ("control: plain np.memmap", None)):
        if reader is None:
            reader = PlainMemmapCache(
                cache.root, json.loads((cache.root / "index.json").read_text()), 0
            )
        ds = TrainDataset(reader, files_a, starts_a, starts_a + clip, targets, clip, "none", seed=0)
        r = stream_and_watch_worker(ds)
        rows.append(
            f"| worker streaming the whole pack, {name} ({r['clips_s']:.0f} clips/s) | RSS {r['start_rss_mb']:.0f} MB at start, "
            f"peak {r['peak_rss_mb']:.0f} MB; file-backed {r['start_file_mb']:.0f} -> max {r['peak_file_mb']:.0f} MB, "
            f"anonymous {r['start_anon_mb']:.0f} -> max {r['peak_anon_mb']:.0f} MB |"
        )
    return rows


LONG_FILE_PEAK = """
import sys, time
import soundfile as sf, soxr
from runner.data.cache import open_cache
def peak_mb():  # this process's peak RSS (VmHWM; ru_maxrss would count the parent's, kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
imported_mb = peak_mb()
t0 = time.perf_counter()
if sys.argv[1] == "ours":
    cache = open_cache([sys.argv[2]], 22050, sys.argv[3])
    n = int(cache.lengths[0])
else:  # the control: what decoding in one piece costs (the cache's builder did this before)
    data, rate = sf.read(sys.argv[2], dtype="float32", always_2d=True)
    n = soxr.resample(data.mean(axis=1), rate, 22050, quality="VHQ").size
print(n, imported_mb, peak_mb(), time.perf_counter() - t0)
"""


def bench_long_file(tmp: Path, quick: bool) -> list[str]:
    """Peak memory of caching one long field recording (44.1 kHz stereo), ours (block by block)
    against decoding it in one piece, each in a fresh process."""
    minutes = 10 if quick else 60
    path = tmp / "long" / "field_recording.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as out:
        for _ in range(minutes):  # a minute at a time: the writer must not need the memory either
            out.write((rng.standard_normal((44100 * 60, 2)) * 0.1).astype(np.float32))
    rows = []
    results = {}
    for how in ("ours", "control"):
        proc = subprocess.run(
            [sys.executable, "-c", LONG_FILE_PEAK, how, str(path), str(tmp / "long-cache")],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        n, imported_mb, peak_mb, seconds = proc.stdout.split()
        results[how] = (int(n), float(imported_mb), float(peak_mb), float(seconds))
    assert results["ours"][0] == results["control"][0]  # the same number of samples
    size_mb = path.stat().st_size / 2**20
    for how, label in (("ours", "block by block (ours)"), ("control", "in one piece (control)")):
        _, imported_mb, peak_mb, seconds = results[how]
        rows.append(
            f"| caching a {minutes} min 44.1 kHz stereo WAV ({size_mb:.0f} MB) -> 22.05 kHz, "
            f"{label} | peak RSS {peak_mb:.0f} MB ({peak_mb - imported_mb:+.0f} MB over the "
            f"{imported_mb:.0f} MB of the imports), {seconds:.1f} s |"
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="specsweep-bench-data-"))
    try:
        print(f"machine: {cpu_model()}, {available_cores()} cores; torch {torch.__version__}")
        print(f"command: python benchmarks/bench_data.py{' --quick' if args.quick else ''}\n")
        print("| measurement | result |\n| --- | --- |")
        # RSS before the model exists
        for section in (bench_cache, bench_long_file, bench_rss, bench_streaming):
            for row in section(tmp, args.quick):
                print(row, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
