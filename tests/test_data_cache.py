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
import torch
import torchaudio.functional as AF
from test_data_helpers import SR, manifest_cfg, small_manifest, write_tone

from runner.data import load_dataset
from runner.data.cache import BadAudio, StreamResampler, decode_blocks, open_cache


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
    ref = AF.resample(torch.from_numpy(left / 2), 22050, 16000).numpy()
    assert np.allclose(x, ref, atol=1e-6)  # the documented resampler, nothing else


@pytest.mark.parametrize(
    "orig, new", [(44100, 22050), (48000, 22050), (8000, 22050), (22050, 16000)]
)
def test_the_streaming_resampler_equals_torchaudio_in_one_shot(orig, new):
    x = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    for length in (1, 7, 300, x.size):  # shorter than the kernel too
        signal = x[:length]
        expected = AF.resample(torch.from_numpy(signal), orig, new).numpy()
        for block in (1, 7, 1000, 20000):
            r = StreamResampler(orig, new)
            pieces = [r.push(signal[i : i + block]) for i in range(0, length, block)]
            out = np.concatenate([*pieces, r.finish()])
            assert out.shape == expected.shape, (length, block)
            assert np.allclose(out, expected, atol=1e-6, rtol=0), (length, block)


def test_long_files_are_decoded_block_by_block(tmp_path, monkeypatch):
    """A file is read, downmixed and resampled a block at a time (memory: a block, not a file),
    and the pack holds the same samples as resampling the whole file at once."""
    import soundfile as sf

    x = np.random.default_rng(1).uniform(-0.5, 0.5, (44100 * 3 + 17, 2)).astype(np.float32)
    sf.write(tmp_path / "long.wav", x, 44100, subtype="FLOAT")
    blocks = list(decode_blocks(str(tmp_path / "long.wav"), 22050, block_frames=10000))
    assert len(blocks) > 10 and max(b.size for b in blocks) <= 10000 // 2 + 1
    ref = AF.resample(torch.from_numpy(x.mean(axis=1)), 44100, 22050).numpy()
    assert np.allclose(np.concatenate(blocks), ref, atol=1e-6, rtol=0)

    monkeypatch.setattr("runner.data.cache.DECODE_BLOCK_FRAMES", 10000)
    cache = open_cache([tmp_path / "long.wav"], 22050, tmp_path / "cache")
    assert np.allclose(cache.read(0, 0, int(cache.lengths[0])), ref, atol=1e-6, rtol=0)


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
