"""The GPU paths of a sweep, on a machine without a GPU: a fake `nvidia-smi` on PATH.

Slots from `nvidia-smi -L` (MIG slices, printed indices, UUIDs as ids), the GPUs a process may
use (CUDA_VISIBLE_DEVICES, SLURM_JOB_GPUS, a cgroup's renumbering), `--gpus` checked against
them, threads from the CPU affinity, and the pre-flight check that torch can use the GPUs, in
a child with a slot's environment, before any trial starts: with the real worker (this machine's
torch cannot use the fake GPUs: one line naming the driver and torch's CUDA, exit 2) and with
`tests/helpers/fake_worker.py` children (which report the GPU usable and record what they saw).
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
from helpers.fake_gpus import DRIVER, fake_nvidia_smi, listing, mig_uuid, path_with, uuid

from runner.errors import UserError
from runner.queue.gpus import choose_gpus, detect_gpus, parse_gpu_list
from runner.queue.slots import THREAD_VARS, plan_slots
from runner.sweep.config import ResourcesConfig

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "helpers" / "fake_worker.py"
CLI = "import sys; from runner.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def gpus(tmp_path, monkeypatch):
    """`gpus(n, mig_slices=0)`: put a fake nvidia-smi with n GPUs first on PATH."""
    for variable in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS"):
        monkeypatch.delenv(variable, raising=False)

    def install(n: int, mig_slices: int = 0) -> Path:
        bin_dir = fake_nvidia_smi(tmp_path / f"smi{n}-{mig_slices}", n, mig_slices)
        monkeypatch.setenv("PATH", path_with(bin_dir))
        return bin_dir

    return install


# --------------------------------------------------------------------------- nvidia-smi -L


def test_mig_slices_replace_their_gpu_and_printed_indices_are_kept():
    text = listing(1, mig_slices=2) + listing(3).split("\n", 2)[2]  # GPU 0 sliced, then GPU 2
    found = parse_gpu_list(text)
    assert [(g.index, g.uuid) for g in found] == [
        ("0:0", mig_uuid(0, 0)), ("0:1", mig_uuid(0, 1)), ("2", uuid(2)),
    ]  # fmt: skip
    assert found[0].name.endswith("MIG 1g.5gb")


def test_detected_gpus_are_uuids_of_what_the_process_may_use(gpus):
    gpus(4)
    assert detect_gpus({}) == tuple(uuid(i) for i in range(4))
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "3,1"}) == (uuid(3), uuid(1))
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "GPU-00000002"}) == (uuid(2),)  # a UUID prefix
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == ()
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == ()
    assert detect_gpus({"SLURM_JOB_GPUS": "2,3"}) == (uuid(2), uuid(3))


def test_a_cgroup_that_renumbers_the_jobs_gpus(gpus):
    gpus(2)  # SLURM's ConstrainDevices: nvidia-smi sees the job's two GPUs only, as 0 and 1
    assert detect_gpus({"SLURM_JOB_GPUS": "2,3"}) == (uuid(0), uuid(1))


def test_slurm_nodevfiles_is_a_one_line_user_error(gpus):
    gpus(2)
    with pytest.raises(UserError, match=r"NoDevFiles.*job without GPUs.*--gpus none"):
        detect_gpus({"CUDA_VISIBLE_DEVICES": "NoDevFiles"})


def test_each_mig_slice_is_a_gpu_of_its_own(gpus):
    gpus(1, mig_slices=2)
    slots = plan_slots(ResourcesConfig(jobs_per_gpu=2), cores=8)
    assert [s.gpu for s in slots] == [mig_uuid(0, 0)] * 2 + [mig_uuid(0, 1)] * 2


def test_no_nvidia_smi_keeps_the_given_ids(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    assert detect_gpus({}) == ()
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "0,1"}) == ("0", "1")


# --------------------------------------------------------------------------- --gpus


def test_gpus_count_within_the_visible_ones(gpus, monkeypatch):
    gpus(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # SLURM gave this job GPUs 2 and 3
    slots = plan_slots(ResourcesConfig(gpus=(0,)), cores=8)
    assert [s.gpu for s in slots] == [uuid(2)]  # the job's first GPU, not the machine's


def test_a_gpu_that_is_not_there_is_refused():
    with pytest.raises(UserError, match=r"--gpus 5: GPU 5 does not exist: 2 GPU\(s\) are visible"):
        choose_gpus((uuid(0), uuid(1)), (5,), "--gpus")
    with pytest.raises(UserError, match="no GPU is visible here"):
        choose_gpus((), (0,), "--gpus")
    with pytest.raises(UserError, match="listed twice"):
        choose_gpus((uuid(0), uuid(1)), (1, 1), "--gpus")


def test_gpus_none_runs_on_the_cpu_whatever_is_visible(gpus, monkeypatch):
    gpus(2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "NoDevFiles")
    assert [s.gpu for s in plan_slots(ResourcesConfig(gpus=(), slots=2), cores=4)] == [None, None]


# --------------------------------------------------------------------------- slots and threads


def test_two_gpus_two_jobs_each_four_slots_threads_from_the_affinity(gpus, monkeypatch):
    gpus(2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))  # taskset -c 0-7
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the machine's, not ours
    slots = plan_slots(ResourcesConfig(jobs_per_gpu=2))
    assert [(s.gpu, s.threads) for s in slots] == [(uuid(0), 2)] * 2 + [(uuid(1), 2)] * 2
    env = slots[2].env({})
    assert env["CUDA_VISIBLE_DEVICES"] == uuid(1) and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert all(env[v] == "2" for v in THREAD_VARS)
    assert env["TORCHINDUCTOR_COMPILE_THREADS"] == "2"  # torch.compile's workers in the budget

    from runner.data.sampling import default_num_workers

    assert default_num_workers() == 4  # min(4, 8 - 1): the loader counts the same cores


# --------------------------------------------------------------------------- whole sweeps


def write_sweep(tmp_path: Path, **resources) -> Path:
    raw = {
        "name": "fake",
        "grid": {"axes": {"frontend.win_length": [256, 512], "frontend.hop_length": [64, 128]}},
        "eval": {"sets": ["test"]},
        "resources": resources,
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def sweep_env(tmp_path: Path, bin_dir: Path, plan: dict | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS")
    }
    return {
        **env,
        "PATH": path_with(bin_dir),
        "PYTHONPATH": str(REPO),
        "SPECSWEEP_FAKE_PLAN": json.dumps(plan or {"default": {"sleep": 0.2}}),
        "SPECSWEEP_FAKE_LOG": str(tmp_path / "runs.log"),
    }


def run(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_a_sweep_on_two_fake_gpus_gives_each_child_its_own(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_sweep(tmp_path, jobs_per_gpu=2)
    bin_dir = fake_nvidia_smi(tmp_path, gpus=2)
    done = run([str(FAKE), "--supervise", str(path)], tmp_path, sweep_env(tmp_path, bin_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 slot(s)" in done.stdout, done.stdout
    # The pre-flight check ran once per GPU, in that GPU's slot environment.
    probes = Path(f"{tmp_path / 'runs.log'}.probes").read_text().split()
    assert sorted(probes) == sorted(repr(uuid(i)) for i in range(2))
    children = [line.split() for line in (tmp_path / "runs.log").read_text().splitlines()]
    assert len(children) == 4  # every trial once
    seen = [c[3].strip("'") for c in children]
    assert set(seen) == {uuid(0), uuid(1)}, seen  # one GPU each, both GPUs used
    threads = str(max(1, len(os.sched_getaffinity(0)) // 4))
    assert {(c[4], c[5]) for c in children} == {(threads, threads)}


def test_gpus_torch_cannot_use_stop_the_sweep_before_any_trial(tmp_path, mlflow_template):
    """The real worker's probe: this machine's torch sees no CUDA device behind the fake
    nvidia-smi (as with a too-old driver, or a container without the device files)."""
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_sweep(tmp_path, jobs_per_gpu=2)
    bin_dir = fake_nvidia_smi(tmp_path, gpus=2)
    done = run(["-c", CLI, "sweep", str(path)], tmp_path, sweep_env(tmp_path, bin_dir))
    assert done.returncode == 2, done.stdout + done.stderr
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert f"NVIDIA driver {DRIVER}" in message and "torch " in message and "(CUDA " in message
    assert "--gpus none" in message and "--device" not in message
    assert not (tmp_path / ".specsweep" / "studies").exists()  # nothing enqueued


def test_a_fake_probe_failure_names_the_error(tmp_path, mlflow_template):
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    path = write_sweep(tmp_path)
    plan = {"probe": {"ok": False, "cuda": "13.0", "error": "driver too old (found version 12020)"}}
    env = sweep_env(tmp_path, fake_nvidia_smi(tmp_path, gpus=1), plan)
    done = run([str(FAKE), "--supervise", str(path)], tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "CUDA 13.0 needs 580.65.06 or newer" in done.stderr, done.stderr
    assert "driver too old" in done.stderr
    assert not (tmp_path / "runs.log").exists()  # no child started


def test_gpus_7_on_two_gpus_exits_2_before_anything(tmp_path):
    path = write_sweep(tmp_path)
    env = sweep_env(tmp_path, fake_nvidia_smi(tmp_path, gpus=2))
    done = run(["-c", CLI, "sweep", str(path), "--gpus", "7"], tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "GPU 7 does not exist: 2 GPU(s) are visible" in done.stderr
    assert not (tmp_path / ".specsweep").exists()
