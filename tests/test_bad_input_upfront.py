"""Bad input fails once, up front, with exit code 2: hostile YAML, absurd sizes, bad data.

Sweep files are real files in tmp_path; the CLI cases run `specsweep` in a fresh process (no
traceback, the message names the file and key); the data cases use real audio files and
manifests, and a real supervisor (`tests/helpers/fake_worker.py --supervise`, children that train
nothing) to show that a sweep over bad data starts no child.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.audio import small_manifest, write_csv, write_tone

from runner.cli import main
from runner.errors import ConfigError
from runner.sweep import limits, safe_yaml
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep

REPO = Path(__file__).resolve().parents[1]
FAKE = REPO / "tests" / "helpers" / "fake_worker.py"

# Runs the CLI in this child and prints its own peak RSS (KiB) and the command's time. VmHWM is
# the peak of this process image (ru_maxrss would include the forked parent's, pytest's).
_MEASURED = (
    "import re, sys, time\n"
    "t = time.perf_counter()\n"
    "from runner.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "seconds = time.perf_counter() - t\n"
    "sys.stderr.flush()\n"
    "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "print('MEASURED', hwm, seconds)\n"
    "sys.exit(code)\n"
)


def cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _MEASURED, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def measured(proc: subprocess.CompletedProcess) -> tuple[float, float]:
    """(peak RSS in MB, seconds in main) of a `cli` child."""
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MEASURED"))
    _, rss_kib, seconds = line.split()
    return int(rss_kib) / 1024, float(seconds)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("specsweep: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- hostile YAML

ALIAS_BOMB = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefg", "bcdefgh")
)  # 10^8 values once expanded


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (ALIAS_BOMB, ["bomb.yaml", "more than 100,000 values", "alias"]),
        ("name: rec\nmodel:\n  kwargs: &a {x: *a}\n", ["line 3", "*a", "contains itself"]),
    ],
    ids=["alias-bomb", "recursive-alias"],
)
def test_alias_bomb_and_recursive_alias_are_refused_quickly(tmp_path, text, needles):
    path = tmp_path / ("bomb.yaml" if "bomb" in text else "rec.yaml")
    path.write_text(text)
    proc = cli("plan", path.name, cwd=tmp_path)
    assert_user_error(proc, path.name, *needles)
    rss_mb, seconds = measured(proc)
    assert seconds < 2.0 and rss_mb < 200, (seconds, rss_mb)


def test_too_many_aliases_deep_nesting_and_big_files_are_refused(tmp_path):
    many = tmp_path / "many.yaml"
    many.write_text("name: many\nx: &x 1\ny: [" + ", ".join(["*x"] * 1001) + "]\n")
    with pytest.raises(ConfigError, match=r"many\.yaml: line 3, .*more than 1000 aliases"):
        load_sweep(many)
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml: line 2, .*nested more than 50 deep"):
        load_sweep(deep)
    big = tmp_path / "big.yaml"
    big.write_text("name: big\n" + "# padding\n" * 120_000)
    with pytest.raises(ConfigError, match=r"big\.yaml: 1,200,010 bytes is over the 1,048,576"):
        load_sweep(big)


def test_shared_anchors_within_the_limits_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "name: anchors\n"
        "eval: &ev {sets: [test]}\n"
        "grid:\n  axes:\n    frontend.hop_length: &hops [64, 128]\n"
    )
    sweep = load_sweep(path)
    assert sweep.eval.sets == ("test",) and len(expand(sweep)) == 2
    assert safe_yaml.parse("a: &x [1, 2]\nb: *x\n", "t") == {"a": [1, 2], "b": [1, 2]}


# --------------------------------------------------------------------------- absurd sizes


def write_sweep(tmp_path: Path, name: str = "mine", **sections) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **sections}, sort_keys=False))
    return path


def test_absurd_image_and_seed_counts_are_refused_at_plan_time(tmp_path):
    write_sweep(tmp_path, "img", frontend={"image_size": [100000, 34000]})
    proc = cli("plan", "img.yaml", cwd=tmp_path)
    assert_user_error(proc, "img.yaml", "frontend.image_size", "3,400,000,000 pixels", "limit")
    write_sweep(tmp_path, "seeds", seeds=10_000_000)
    proc = cli("plan", "seeds.yaml", cwd=tmp_path)
    assert_user_error(proc, "seeds.yaml", "seeds: 10,000,000", "limit of 1,000")
    rss_mb, seconds = measured(proc)
    assert seconds < 2.0 and rss_mb < 200, (seconds, rss_mb)


def test_a_batch_that_cannot_fit_names_batch_size(tmp_path):
    path = write_sweep(tmp_path, frontend={"image_size": [4096, 4096]}, train={"batch_size": 512})
    with pytest.raises(ConfigError, match=r"train\.batch_size: a batch of 512 would not fit"):
        load_sweep(path)


def test_grid_over_the_trial_limit_needs_allow_large(tmp_path):
    values = list(range(100, 201))  # 101 hop lengths x 1000 seeds = 101,000 trials
    path = write_sweep(
        tmp_path,
        frontend={"win_length": 512},
        grid={"axes": {"frontend.hop_length": values}},
        seeds=1000,
    )
    with pytest.raises(
        ConfigError, match=r"101 grid points x 1000 seeds = 101,000 trials.*--allow-large"
    ):
        load_sweep(path)
    assert len(expand(load_sweep(path, allow_large=True))) == 101_000
    assert limits.MAX_TRIALS == 100_000


def test_plan_imports_neither_torch_nor_mlflow():
    code = (
        "import sys\n"
        "from runner.cli import main\n"
        "assert main(['plan', 'sweeps/merlin_part1.yaml']) == 0\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'timm', 'torchaudio') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


# --------------------------------------------------------------------------- bad data


def data_sweep(tmp_path: Path, name: str, manifest: str, sets=("test",), **data) -> Path:
    return write_sweep(
        tmp_path,
        name,
        data={
            "kind": "manifest",
            "manifest": manifest,
            "clip_s": 0.5,
            "cache_dir": "cache",
            **data,
        },
        frontend={"sample_rate": 8000, "win_length": 256, "hop_length": 128, "n_mels": 32},
        eval={"sets": list(sets)},
        grid={"axes": {"frontend.scale": ["mel", "linear"]}},
        resources={"slots": 1},
        tracking={"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
        search={"max_retries": 1},
    )


def with_corrupt_file(tmp_path: Path) -> Path:
    """small_manifest plus one row whose WAV does not decode (line 14 of the CSV)."""
    m = small_manifest(tmp_path, n_per_class=2, seconds=0.6)
    (tmp_path / "audio" / "corrupt.wav").write_bytes(b"RIFF\0\0\0\0WAVEnot audio" * 20)
    with open(m, "a") as fh:
        fh.write("audio/corrupt.wav,a,train\n")
    return m


def bad_manifests(tmp_path: Path) -> dict[str, tuple[str, dict, list[str]]]:
    """name -> (manifest, extra data keys, what the message must name)."""
    write_tone(tmp_path / "x.wav", 1.0)
    write_tone(tmp_path / "y.wav", 1.0, freq_hz=880.0)
    rows = [["x.wav", "a", "train"], ["y.wav", "a", "test"]]
    write_csv(tmp_path / "nolabels.csv", ["path", "split"], [r[::2] for r in rows])
    write_csv(tmp_path / "ok.csv", ["path", "labels", "split"], rows)
    write_csv(
        tmp_path / "backwards.csv",
        ["path", "labels", "start_s", "end_s", "split"],
        [["x.wav", "a", "0.8", "0.2", "train"], ["y.wav", "a", "", "", "test"]],
    )
    (tmp_path / "latin1.csv").write_bytes(b"path,labels,split\nx.wav,caf\xe9,train\n")
    with_corrupt_file(tmp_path)
    return {
        "corrupt": (
            "manifest.csv",
            {},
            ["manifest.csv line 14", "corrupt.wav", "on_bad_audio: skip"],
        ),
        "missing": ("nowhere.csv", {}, ["nowhere.csv", "manifest not found"]),
        "columns": ("nolabels.csv", {}, ["nolabels.csv", "labels"]),
        "split": ("ok.csv", {"sets": ["field"]}, ["ok.csv", "'field'", "named in eval"]),
        "utf8": ("latin1.csv", {}, ["latin1.csv line 2", "not UTF-8"]),
        "backwards": (
            "backwards.csv",
            {},
            ["backwards.csv line 2", "end_s 0.2 is not after start_s 0.8"],
        ),
    }


def test_plan_check_data_reports_each_data_mistake_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name, (manifest, extra, needles) in bad_manifests(tmp_path).items():
        data_sweep(tmp_path, name, manifest, **extra)
        assert main(["plan", f"{name}.yaml"]) == 0  # the file itself is fine
        capsys.readouterr()
        assert main(["plan", "--check-data", f"{name}.yaml"]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith("specsweep: error: ") and "\n" not in err, err
        for needle in needles:
            assert needle in err, (name, err)


def supervise(tmp_path: Path, sweep: Path, plan: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SPECSWEEP_FAKE_PLAN": json.dumps(plan or {"default": {"sleep": 0.1}}),
        "SPECSWEEP_FAKE_LOG": str(tmp_path / "runs.log"),
        "SPECSWEEP_FAKE_CHECK_DATA": "1",
    }
    return subprocess.run(
        [sys.executable, str(FAKE), "--supervise", sweep.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite store created once (creating its tables takes seconds), copied per test."""
    from runner.tracking.experiment import ensure_experiment

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    ensure_experiment(f"sqlite:///{path}", "skipping")
    return path


def test_sweep_over_a_corrupt_file_starts_no_child(tmp_path):
    with_corrupt_file(tmp_path)
    data_sweep(tmp_path, "corrupt", "manifest.csv")
    proc = cli("sweep", "corrupt.yaml", "--no-live", cwd=tmp_path)  # the real command
    assert_user_error(proc, "manifest.csv line 14", "corrupt.wav", "unreadable")
    assert not (tmp_path / ".specsweep" / "runs").exists()  # no child started, no log
    assert not (tmp_path / ".specsweep" / "studies").exists()  # nothing was enqueued


@pytest.mark.slow  # a supervisor with MLflow: about a minute here (the queue rule is in test_sweep_queue)
def test_skip_is_counted_once_and_a_user_error_is_not_retried(tmp_path, mlflow_template):
    """One supervisor run: the corrupt file is skipped and counted once, in the supervisor; the
    point whose trial fails on a user error runs once although max_retries is 1."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    with_corrupt_file(tmp_path)
    sweep = data_sweep(tmp_path, "skipping", "manifest.csv", on_bad_audio="skip")
    plan = {"default": {"sleep": 0.1}, "mel-s0": {"user_error_attempts": 9}}
    proc = supervise(tmp_path, sweep, plan)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [x for x in proc.stdout.splitlines() if "on_bad_audio: skip left out" in x]
    assert len(lines) == 1 and "1 unreadable" in lines[0], proc.stdout
    starts = [x.split()[0] for x in (tmp_path / "runs.log").read_text().splitlines()]
    assert sorted(starts) == ["linear-s0", "mel-s0"]  # one attempt each
    assert "retrying cannot fix it" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
