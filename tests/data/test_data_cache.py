"""The audio cache: decode once, reuse, keys, resampling, concurrent builders, flat worker memory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soxr
from helpers.audio import SR, manifest_cfg, small_manifest, write_tone

from runner.data import load_dataset
from runner.data.cache import (
    RESAMPLE_QUALITY,
    BadAudio,
    StreamResampler,
    decode_blocks,
    open_cache,
)


def tones(tmp_path: Path, n: int, seconds: float = 1.0, sr: int = SR) -> list[Path]:
    paths = []
    for i in range(n):
        p = tmp_path / "audio" / f"t{i}.wav"
        write_tone(p, seconds, sr=sr, freq_hz=200 + 50 * i)
        paths.append(p)
    return paths


def test_second_open_decodes_nothing(tmp_path):
    paths = tones(tmp_path, 3)
    first = open_cache(paths, SR, tmp_path / "cache")
    assert first.n_decoded == 3
    second = open_cache(list(reversed(paths)), SR, tmp_path / "cache")  # order does not matter
    assert second.n_decoded == 0 and second.root == first.root
    i = second.index_of(paths[1])
    assert np.array_equal(second.read(i, 0, SR), first.read(first.index_of(paths[1]), 0, SR))


def test_second_sweep_in_a_fresh_process_decodes_nothing(tmp_path):
    """Load the dataset, then load it again in a new process where decoding is booby-trapped."""
    manifest = small_manifest(tmp_path, n_per_class=1)
    cfg = manifest_cfg(tmp_path, manifest, clip_s=0.5)
    assert load_dataset(cfg, SR, ("test",), seed=0).train.cache.n_decoded == 6
    script = f"""
import soundfile
def trap(*a, **k):
    raise AssertionError("decoded a file")
soundfile.read = trap
from runner.data import DataConfig, load_dataset
ds = load_dataset(DataConfig(kind="manifest", manifest={str(manifest)!r}, cache_dir={str(tmp_path / "cache")!r},
                             clip_s=0.5), {SR}, ("test",), seed=0)
x, y = ds.train[0]
print("decoded", ds.train.cache.n_decoded, "clip", tuple(x.shape))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "decoded 0 clip (4000,)" in out.stdout


def test_key_changes_with_file_identity_and_sample_rate(tmp_path):
    paths = tones(tmp_path, 2)
    a = open_cache(paths, SR, tmp_path / "cache")
    b = open_cache(paths, 16000, tmp_path / "cache")
    assert b.n_decoded == 2 and a.root != b.root and b.lengths.tolist() == [16000, 16000]
    time.sleep(0.01)
    write_tone(paths[0], 1.5)  # same path, new size and mtime
    c = open_cache(paths, SR, tmp_path / "cache")
    # A new pack, in which only the changed file is decoded: the other is copied from pack a.
    assert c.n_decoded == 1 and c.root != a.root
    assert c.lengths[c.index_of(paths[0])] == 1.5 * SR
    same = (a.index_of(paths[1]), c.index_of(paths[1]))
    assert np.array_equal(a.read(same[0], 0, SR), c.read(same[1], 0, SR))
    os.utime(paths[1], ns=(1, 1))  # same bytes, other mtime: a different file as far as we know
    d = open_cache(paths, SR, tmp_path / "cache")
    assert d.n_decoded == 1 and d.root not in (a.root, c.root)


def test_a_grown_dataset_decodes_only_its_new_files_and_matches_a_fresh_build(tmp_path):
    paths = tones(tmp_path, 4)
    assert open_cache(paths[:3], SR, tmp_path / "cache").n_decoded == 3
    grown = open_cache(paths, SR, tmp_path / "cache")  # one file more
    assert grown.n_decoded == 1
    fresh = open_cache(paths, SR, tmp_path / "fresh")  # from scratch, elsewhere
    assert fresh.n_decoded == 4
    assert (grown.root / "audio.f32").read_bytes() == (fresh.root / "audio.f32").read_bytes()
    assert grown.offsets.tolist() == fresh.offsets.tolist()
    # A pack at another rate, or one removed meanwhile, is never a source: decode instead.
    assert open_cache(paths[:2], 16000, tmp_path / "cache").n_decoded == 2
    for index in (tmp_path / "cache").glob(f"sr{SR}-*/index.json"):
        shutil.rmtree(index.parent)
    assert open_cache(paths[1:], SR, tmp_path / "cache").n_decoded == 3


def one_shot(x: np.ndarray, orig: int, new: int) -> np.ndarray:
    """The documented resampler applied to the whole signal in one call."""
    return soxr.resample(x.astype(np.float32), orig, new, quality=RESAMPLE_QUALITY)


def stream(x: np.ndarray, orig: int, new: int, block: int) -> np.ndarray:
    r = StreamResampler(orig, new)
    pieces = [r.push(x[i : i + block]) for i in range(0, x.size, block)]
    return np.concatenate([*pieces, r.finish()])


def test_resampling_keeps_frequency_and_downmixes(tmp_path):
    p = tmp_path / "st.wav"
    import soundfile as sf

    t = np.arange(22050) / 22050
    left = (0.6 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    sf.write(p, np.stack([left, np.zeros_like(left)], axis=1), 22050, subtype="FLOAT")
    cache = open_cache([p], 16000, tmp_path / "cache")
    x = cache.read(0, 0, int(cache.lengths[0]))
    assert x.size == 16000
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    assert abs(np.argmax(spectrum) * 16000 / x.size - 1000) <= 1
    assert np.isclose(np.abs(x[1000:-1000]).max(), 0.3, atol=0.01)  # mean of the two channels
    assert np.allclose(x, one_shot(left / 2, 22050, 16000), atol=1e-6)  # the documented resampler


RATE_PAIRS = [(44100, 22050), (48000, 22050), (8000, 22050), (96000, 32000)]


@pytest.mark.parametrize("orig, new", RATE_PAIRS)
def test_the_streaming_resampler_equals_soxr_in_one_shot(orig, new):
    """Any block size gives the samples (and the exact length) of one call on the whole signal."""
    x = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    for length in (1, 7, 300, x.size):  # shorter than the filter too
        signal = x[:length]
        expected = one_shot(signal, orig, new)
        assert expected.size == int(np.floor(length * new / orig + 0.5))  # round half up
        for block in (1, 7, 1000, 20000):
            out = stream(signal, orig, new, block)
            assert out.shape == expected.shape, (length, block)
            assert np.allclose(out, expected, atol=1e-6, rtol=0), (length, block)


@pytest.mark.parametrize("orig, new", RATE_PAIRS)
def test_the_streaming_resampler_takes_blocks_of_a_million_samples(orig, new):
    x = np.random.default_rng(1).standard_normal(2_500_001).astype(np.float32) * 0.1
    expected = one_shot(x, orig, new)
    for block in (65536, 1_000_000, x.size):
        out = stream(x, orig, new, block)
        assert out.shape == expected.shape, block
        assert np.allclose(out, expected, atol=1e-6, rtol=0), block


def faded_tone(rate: int, freq_hz: float, seconds: float = 2.0) -> np.ndarray:
    """A tone with Hann fades of 0.1 s, so no click at either end spreads energy across bands."""
    n = int(rate * seconds)
    x = 0.5 * np.sin(2 * np.pi * freq_hz * np.arange(n) / rate)
    fade = int(0.1 * rate)
    ramp = np.hanning(2 * fade)
    x[:fade] *= ramp[:fade]
    x[-fade:] *= ramp[fade:]
    return x.astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-30)


@pytest.mark.parametrize("orig, new", RATE_PAIRS)
def test_a_tone_keeps_its_frequency_and_level(orig, new):
    x = faded_tone(orig, 1000.0)
    y = stream(x, orig, new, 4096)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert abs(np.argmax(spectrum) * new / y.size - 1000) <= new / y.size  # within one bin
    # Same duration, same tone: the mean power per sample is unchanged (within 0.1 dB).
    assert abs(rms_db(y) - rms_db(x)) < 0.1


@pytest.mark.parametrize("orig, new", [(44100, 22050), (48000, 22050), (96000, 32000)])
def test_a_tone_above_the_new_nyquist_is_removed(orig, new):
    freq = 0.6 * new  # above new / 2, below orig / 2: it would alias without the filter
    x = faded_tone(orig, freq)
    y = stream(x, orig, new, 4096)
    assert rms_db(y) - rms_db(x) < -80


def test_silence_stays_silent():
    for orig, new in RATE_PAIRS:
        assert not stream(np.zeros(50_000, np.float32), orig, new, 777).any()


def test_long_files_are_decoded_block_by_block(tmp_path, monkeypatch):
    """A file is read, downmixed and resampled a block at a time (memory: a block, not a file),
    and the pack holds the same samples as resampling the whole file at once."""
    import soundfile as sf

    x = np.random.default_rng(1).uniform(-0.5, 0.5, (44100 * 3 + 17, 2)).astype(np.float32)
    sf.write(tmp_path / "long.wav", x, 44100, subtype="FLOAT")
    blocks = list(decode_blocks(str(tmp_path / "long.wav"), 22050, block_frames=10000))
    # A block's output, give or take the filter's delay line (soxr's VHQ filter: well under 1000).
    assert len(blocks) > 10 and max(b.size for b in blocks) <= 10000 // 2 + 1000
    ref = one_shot(x.mean(axis=1), 44100, 22050)
    assert np.allclose(np.concatenate(blocks), ref, atol=1e-6, rtol=0)

    monkeypatch.setattr("runner.data.cache.DECODE_BLOCK_FRAMES", 10000)
    cache = open_cache([tmp_path / "long.wav"], 22050, tmp_path / "cache")
    assert np.allclose(cache.read(0, 0, int(cache.lengths[0])), ref, atol=1e-6, rtol=0)


LONG_FILE_BUILD = """
import sys
from runner.data.cache import open_cache
def hwm_mb():  # this process's peak RSS (VmHWM; ru_maxrss would count the parent's, kept over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = hwm_mb()
cache = open_cache([sys.argv[1]], 22050, sys.argv[2])
print(int(cache.lengths[0]), hwm_mb() - before)
"""


def build_in_fresh_process(tmp_path: Path, minutes: int, rate: int = 8000) -> tuple[int, float]:
    """Write `minutes` of mono audio at `rate`, cache it at 22050 Hz in a fresh process; returns
    (samples in the pack, MB the build added to that process's peak resident set)."""
    import soundfile as sf

    path = tmp_path / f"night-{minutes}.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as out:
        for _ in range(minutes):  # a minute at a time: the writer must not need the memory either
            out.write((rng.standard_normal(rate * 60) * 0.1).astype(np.float32))
    proc = subprocess.run(
        [sys.executable, "-c", LONG_FILE_BUILD, str(path), str(tmp_path / f"cache-{minutes}")],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    length, grown_mb = proc.stdout.split()
    return int(length), float(grown_mb)


@pytest.mark.slow
def test_a_multi_hour_file_is_cached_in_bounded_memory(tmp_path):
    """Two hours of 8 kHz audio become 635 MB of 22050 Hz float32 in the pack; building it costs
    a block's memory, not the file's: no more than building 20 minutes does."""
    short_len, short_mb = build_in_fresh_process(tmp_path, 20)
    long_len, long_mb = build_in_fresh_process(tmp_path, 120)
    assert (short_len, long_len) == (20 * 60 * 22050, 120 * 60 * 22050)
    pack_mb = long_len * 4 / 2**20
    assert long_mb < 1.5 * short_mb + 20, (short_mb, long_mb)  # flat in the file's length
    assert long_mb < 0.3 * pack_mb, (long_mb, pack_mb)


def test_a_bad_block_late_in_a_file_takes_back_what_the_file_wrote(tmp_path, monkeypatch):
    import soundfile as sf

    monkeypatch.setattr("runner.data.cache.DECODE_BLOCK_FRAMES", 1000)
    good = [write_tone(tmp_path / f"{name}.wav", 0.5) for name in ("a", "c")]
    late_nan = np.full(5000, 0.1, dtype=np.float32)
    late_nan[4500] = np.nan  # in the fifth block: four were already written
    sf.write(tmp_path / "b.wav", late_nan, SR, subtype="FLOAT")
    paths = [tmp_path / n for n in ("a.wav", "b.wav", "c.wav")]
    with pytest.raises(BadAudio, match="NaN"):
        open_cache(paths, SR, tmp_path / "strict")
    cache = open_cache(paths, SR, tmp_path / "lenient", fail_fast=False)
    assert cache.status == ("ok", "nan", "ok") and cache.lengths.tolist() == [4000, 0, 4000]
    assert cache.offsets.tolist() == [0, 4000, 4000]
    assert (cache.root / "audio.f32").stat().st_size == 4 * 8000
    assert np.allclose(cache.read(2, 0, 4000), good[1], atol=1e-4)  # c right after a


BUILDER = """
import json, sys, time
from pathlib import Path
from runner.data.cache import open_cache
paths, cache_dir, go, delay = json.loads(sys.argv[1])
Path(go + f".ready{sys.argv[2]}").touch()
while not Path(go).exists():  # a barrier: every process calls open_cache at the same moment
    time.sleep(0.005)
cache = open_cache(paths, 8000, cache_dir, on_file=lambda done, total: time.sleep(delay))
print(json.dumps([cache.n_decoded, str(cache.root), float(cache.read(3, 0, 100).sum())]))
"""


def _start_builders(n, paths, cache_dir, go: Path, delay_s: float) -> list[subprocess.Popen]:
    """Independent Python processes (as sweep slots are), released together by a barrier file."""
    arg = json.dumps([[str(p) for p in paths], str(cache_dir), str(go), delay_s])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILDER, arg, str(i)], stdout=subprocess.PIPE, text=True
        )
        for i in range(n)
    ]
    deadline = time.time() + 120
    while len(list(go.parent.glob(go.name + ".ready*"))) < n and time.time() < deadline:
        time.sleep(0.02)
    go.touch()
    return procs


def test_concurrent_builders_one_builds_others_wait_and_reuse(tmp_path):
    paths = tones(tmp_path, 12, seconds=2.0, sr=44100)  # resampled: a real build
    procs = _start_builders(3, paths, tmp_path / "cache", tmp_path / "go", delay_s=0.05)
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r[0] for r in results) == [0, 0, 12]  # exactly one process decoded
    assert len({r[1] for r in results}) == 1 and len({r[2] for r in results}) == 1
    left = sorted(x.name for x in (tmp_path / "cache").iterdir() if not x.name.endswith(".lock"))
    assert left == [Path(results[0][1]).name]  # no temporary folder left behind


def test_a_killed_builder_leaves_no_half_written_cache(tmp_path):
    paths = tones(tmp_path, 10)
    (builder,) = _start_builders(1, paths, tmp_path / "cache", tmp_path / "go", delay_s=0.3)
    deadline = time.time() + 60
    while not list((tmp_path / "cache").glob(".tmp-*/audio.f32")) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # mid-build: a few files written
    assert (next((tmp_path / "cache").glob(".tmp-*/audio.f32")).stat().st_size) > 0
    builder.send_signal(signal.SIGKILL)
    builder.wait()
    assert [
        p for p in (tmp_path / "cache").iterdir() if p.is_dir() and not p.name.startswith(".tmp-")
    ] == []
    cache = open_cache(paths, SR, tmp_path / "cache")  # the lock died with its holder
    assert cache.n_decoded == 10 and cache.total_samples == 10 * SR
    assert not list((tmp_path / "cache").glob(".tmp-*"))  # the stale folder was cleaned up


def _mapped_kb(name: str) -> int:
    """Resident kB of this process's mappings of files called `name` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's header line
            inside = line.endswith("/" + name)
        elif inside and head[0] == "Rss:":
            total += int(head[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux /proc")
def test_reading_the_whole_cache_does_not_grow_resident_memory(tmp_path):
    """Stream every sample of a 48 MB pack: its resident pages stay near zero (see cache.read).

    The control, a plain np.memmap read the same way, keeps every page it touched resident."""
    paths = tones(tmp_path, 6, seconds=250.0)  # 6 x 2 M samples = 48 MB of float32
    cache = open_cache(paths, SR, tmp_path / "cache")
    clip = SR * 3
    for f in range(len(cache)):
        for a in range(0, int(cache.lengths[f]) - clip, clip):
            cache.read(f, a, a + clip)
    ours = _mapped_kb("audio.f32")
    plain = np.memmap(cache.root / "audio.f32", dtype=np.float32, mode="r")
    for a in range(0, plain.size - clip, clip):
        np.array(plain[a : a + clip])
    control = _mapped_kb("audio.f32") - ours
    assert control > 40_000  # the control holds what it read (kB)
    assert ours < 100
