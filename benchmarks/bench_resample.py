"""Cache build with soxr against the torchaudio stream it replaced: 44.1 kHz stereo WAV -> 22050 Hz mono.

    .venv/bin/python benchmarks/bench_resample.py              # ~1 minute on a 2-core CPU
    .venv/bin/python benchmarks/bench_resample.py --minutes 5  # smaller, for a smoke run

The old builder is the audio cache of the last commit that resampled with torchaudio
(`OLD_COMMIT`), read with `git show` into a temporary module; it needs torchaudio importable
(it is no longer a dependency: `pip install 'torchaudio==<torch's version>'` in a scratch venv to
run the comparison). Without torchaudio only the soxr figures are printed.

Each build runs in a fresh process (peak RSS is the process's own, counted from after the
imports), and the two builders alternate over `--repeats` rounds in one run, so both see the same
machine load. Prints a Markdown table; the figures in benchmarks/RESULTS.md come from here.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from runner.tracking.trial_runs import cpu_model

ROOT = Path(__file__).resolve().parents[1]
OLD_COMMIT = "7563476"  # "Audio cache: drop decode()...": the last cache built on torchaudio

BUILD = """
import importlib.util, sys, time
def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would count the parent's, kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
spec = importlib.util.spec_from_file_location("cache_under_test", sys.argv[1])
cache = sys.modules["cache_under_test"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cache)
imported = hwm_mb()
paths = sys.argv[3:]
t0 = time.perf_counter()
pack = cache.open_cache(paths, 22050, sys.argv[2])
seconds = time.perf_counter() - t0
peak = hwm_mb()
print(int(pack.lengths.sum()), seconds, imported, peak)
"""


def write_files(folder: Path, n: int, seconds: float) -> list[Path]:
    """Stereo 44.1 kHz int16 WAVs of noise with a tone, written with soundfile."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t = np.arange(int(44100 * seconds)) / 44100
    paths = []
    for i in range(n):
        tone = 0.3 * np.sin(2 * np.pi * (500 + 100 * i) * t)
        x = tone[:, None] + 0.05 * rng.standard_normal((t.size, 2))
        paths.append(folder / f"rec{i:03d}.wav")
        sf.write(paths[-1], x.astype(np.float32), 44100, subtype="PCM_16")
    return paths


def old_module(tmp: Path) -> Path | None:
    """The torchaudio-era cache module as a file, or None when it cannot run here."""
    if importlib.util.find_spec("torchaudio") is None:
        return None
    source = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:runner/data/cache.py"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    path = tmp / "cache_torchaudio.py"
    path.write_text(source)
    return path


def build(module: Path, cache_dir: Path, paths: list[Path]) -> tuple[int, float, float, float]:
    """(samples out, build seconds, peak RSS MB after the imports, peak RSS MB after the build)."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-c", BUILD, str(module), str(cache_dir), *map(str, paths)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.split()  # fmt: skip
    return int(out[0]), float(out[1]), float(out[2]), float(out[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="audio in total")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-resample-"))
    try:
        paths = write_files(tmp / "audio", args.files, 60 * args.minutes / args.files)
        builders = {"soxr (VHQ, now)": ROOT / "runner" / "data" / "cache.py"}
        old = old_module(tmp)
        if old is not None:
            builders[f"torchaudio stream ({OLD_COMMIT})"] = old
        results: dict[str, list[tuple[int, float, float, float]]] = {name: [] for name in builders}
        for _ in range(args.repeats):  # interleaved, so both see the same load
            for name, module in builders.items():
                results[name].append(build(module, tmp / "cache", paths))
        audio_s = 60 * args.minutes
        print(f"machine: {cpu_model()}; {args.files} files, {args.minutes:g} min of 44.1 kHz "
              f"stereo int16 WAV -> 22050 Hz mono; median of {args.repeats} interleaved builds\n")  # fmt: skip
        print("| builder | build s | audio-s per s | peak RSS: imports -> build | samples out |")
        print("| --- | --- | --- | --- | --- |")
        medians = {}
        for name, runs in results.items():
            seconds = statistics.median(r[1] for r in runs)
            imported, peak = max(r[2] for r in runs), max(r[3] for r in runs)
            medians[name] = seconds
            print(f"| {name} | {seconds:.2f} | {audio_s / seconds:.0f} | "
                  f"{imported:.0f} -> {peak:.0f} MB | {runs[0][0]} |")  # fmt: skip
        if old is None:
            print("\n(torchaudio not importable: the old builder was not run)")
        else:
            names = list(medians)
            print(f"\nsoxr / torchaudio build time: {medians[names[0]] / medians[names[1]]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
