"""The device check's two halves, without a GPU and without the network.

`make device-wheels` (benchmarks/device_wheels.py) ships the distributions the check imports
that the GPU image lacks: a child process here does what the check's children do (imports the
project, opens a real MLflow store and Optuna journal, reads and writes audio, imports pynvml
and pytest), and every distribution it loaded must be on the image or in the list. `make
gpu-check` (benchmarks/gpu_check.py) must pass its CPU dry run, every step at a tiny size, with a
wheel folder installed the way the device installs it (slow: minutes).
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


device_wheels = _module("device_wheels")
gpu_check = _module("gpu_check")

# What a child of the check does, in one process; prints the top-level modules it loaded.
_LIKE_THE_CHECK = """
import json, sys, tempfile
from pathlib import Path
import numpy as np
import runner.cli, runner.queue.worker, runner.train.trial, runner.tracking.logged_models
import runner.tracking.system_metrics, reports, mlflow.pytorch, optuna, soxr, soundfile
import pynvml, pytest, pytest_timeout
from mlflow import MlflowClient
from runner.queue.store import open_store
tmp = Path(tempfile.mkdtemp())
client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
run = client.create_run(client.create_experiment("x"))
client.log_metric(run.info.run_id, "m", 1.0)
open_store(f"journal:{tmp / 'x.journal'}", "x")
soundfile.write(tmp / "a.flac", np.zeros(2205, np.float32), 22050)
soxr.resample(soundfile.read(tmp / "a.flac")[0], 22050, 16000)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_the_wheels_cover_every_distribution_the_check_loads():
    done = subprocess.run(
        [sys.executable, "-c", _LIKE_THE_CHECK], capture_output=True, text=True, timeout=300,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    owners = metadata.packages_distributions()
    ours = {"runner", "frontends", "models", "reports"}
    loaded = {
        canonicalize_name(dist)
        for m in modules
        if m not in sys.stdlib_module_names and m not in ours
        for dist in owners.get(m, [])
    }
    # A distribution the check's packages do not require on the device (colorama, say, which
    # some packages import when present and mkdocs-material installs here) is not needed there.
    required = loaded & device_wheels.closure(device_wheels.roots())
    shipped = set(device_wheels.needed())
    missing = required - device_wheels.image_closure() - shipped
    assert not missing, f"loaded by the check, neither on the image nor in the wheels: {missing}"
    assert {"mlflow", "optuna", "soxr", "soundfile", "sqlalchemy", "alembic", "pytest"} <= shipped


def test_the_wheels_are_the_locks_versions_and_nothing_the_image_has():
    pins = device_wheels.needed()
    lock = device_wheels.read_lock()
    assert all(lock[name] == version for name, version in pins.items())
    assert not set(pins) & {"torch", "numpy", "timm", "pyyaml", "psutil", "rich", "protobuf"}
    assert pins["mlflow"] == lock["mlflow"] and "nvidia-ml-py" in pins  # GPU system metrics
    listed = ROOT / ".whl" / device_wheels.LIST_FILE
    if listed.exists():  # after `make device-wheels`: the folder is what the code says
        on_disk = {
            name: version for name, (version, _) in device_wheels.read_list(listed.parent).items()
        }
        assert on_disk == pins


def test_every_cuda_test_runs_in_the_check():
    marked = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"^@pytest\.mark\.cuda$", p.read_text(), re.M)
    }
    assert marked == set(gpu_check.CUDA_TEST_FILES)


def _wheel(folder: Path) -> Path:
    """A minimal pure-Python wheel (module `specsweep_wheel_probe`), built by hand: no network."""
    path = folder / "specsweep_wheel_probe-1.0-py3-none-any.whl"
    info = "specsweep_wheel_probe-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("specsweep_wheel_probe.py", "VALUE = 42\n")
        whl.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: specsweep-wheel-probe\nVersion: 1.0\n"
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{info}/RECORD", "")
    (folder / device_wheels.LIST_FILE).write_text(f"specsweep-wheel-probe==1.0 {path.name}\n")
    return path


@pytest.mark.slow
def test_the_gpu_check_dry_run_passes_every_step(tmp_path):
    wheels = tmp_path / "whl"
    wheels.mkdir()
    _wheel(wheels)
    out = tmp_path / "check"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--out", str(out),
         "--wheels", str(wheels), "--budget-s", "1500"],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert done.returncode == 0 and summary["ok"], (summary, done.stdout[-3000:])
    steps = ("setup", "cuda_tests", "demo_sweep", "slot_scaling", "bench_trial", "frontends")
    assert list(summary["steps"]) == list(steps)
    assert all((out / f"{s}.json").exists() and (out / f"{s}.log").exists() for s in steps)
    assert (out / "site" / "specsweep_wheel_probe.py").exists()  # installed with --target
    demo = json.loads((out / "demo_sweep.json").read_text())
    assert demo["finished_once"] == demo["trials"] == 2 and demo["logged_models"] == 2
    rows = json.loads((out / "slot_scaling.json").read_text())["rows"]
    assert [r["jobs_per_gpu"] for r in rows] == [1, 2] and all(r["trials"] == 2 for r in rows)
    rates = json.loads((out / "bench_trial.json").read_text())["samples_per_s"]
    assert rates and all(v > 0 for v in rates.values())
