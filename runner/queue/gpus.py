"""The GPUs a sweep may use, named so that CUDA, NVML and nvidia-smi mean the same device.

    ids = detect_gpus()                            # ("GPU-5d5b...", "GPU-8a1c...") or ()
    ids = choose_gpus(ids, (1,), "--gpus")         # the second visible GPU; a UserError if none
    check_gpus_usable(worker_command, gpu_envs(slots))   # torch can use them, in a slot's env

Ids are what a child's `CUDA_VISIBLE_DEVICES` will say: UUIDs (`GPU-...`, and `MIG-...` for the
slices of a GPU in MIG mode) where `nvidia-smi -L` prints them, which CUDA accepts and NVML
(system metrics) looks up the same way, so CUDA's device order (FASTEST_FIRST by default) and
NVML's (the PCI bus order) cannot disagree; the children also get `CUDA_DEVICE_ORDER=PCI_BUS_ID`
for the numeric ids used where nvidia-smi is missing. A GPU in MIG mode gives one id per slice
(CUDA uses one slice per process), never the GPU itself.

The GPUs this process may use: `CUDA_VISIBLE_DEVICES` when set (SLURM sets it for a job's
GPUs), else `SLURM_JOB_GPUS`, else every GPU nvidia-smi lists. `--gpus` / `resources.gpus` count
within those (0 = the first visible GPU), as CUDA numbers them in a process that sees them.
Nothing here initialises CUDA: this process (the supervisor) never does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runner.errors import UserError

_GPU_LINE = re.compile(r"^GPU (\d+): (.*?) \(UUID: (GPU-[^)\s]+)\)")
_MIG_LINE = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: (MIG-[^)\s]+)\)")
_UUID = re.compile(r"^(GPU|MIG)-")


@dataclass(frozen=True)
class Gpu:
    """One device a child can be given: a whole GPU, or one MIG slice of one."""

    index: str  # nvidia-smi's index: "1", or "1:0" for slice 0 of GPU 1
    name: str  # "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    uuid: str  # GPU-... or MIG-...


def parse_gpu_list(text: str) -> list[Gpu]:
    """The devices in `nvidia-smi -L` output: each GPU, or its MIG slices when it has any."""
    gpus: list[Gpu] = []
    parent: Gpu | None = None
    sliced: set[str] = set()
    for line in text.splitlines():
        if match := _GPU_LINE.match(line):
            parent = Gpu(match[1], match[2].strip(), match[3])
            gpus.append(parent)
        elif (match := _MIG_LINE.match(line)) and parent is not None:
            gpus.append(
                Gpu(f"{parent.index}:{match[2]}", f"{parent.name} MIG {match[1]}", match[3])
            )
            sliced.add(parent.uuid)
    return [g for g in gpus if g.uuid not in sliced]


def list_gpus() -> list[Gpu]:
    """The devices `nvidia-smi -L` lists (none when it is missing or fails)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    return parse_gpu_list(out)


def detect_gpus(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """The ids of the GPUs this process may use (see the module docstring), without CUDA."""
    env = os.environ if env is None else env
    listed = list_gpus()
    for variable in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS"):
        if variable in env:
            return _resolve(env[variable], variable, listed)
    return tuple(g.uuid for g in listed)


def _resolve(value: str, variable: str, listed: list[Gpu]) -> tuple[str, ...]:
    """The ids `VARIABLE=value` names: nvidia-smi's UUIDs where it lists them, else as given."""
    entries = [v.strip() for v in value.split(",") if v.strip()]
    if entries[:1] == ["-1"]:  # CUDA's "no GPU"
        return ()
    for entry in entries:
        if not (entry.isdigit() or _UUID.match(entry)):
            raise UserError(
                f"{variable}={value}: {entry!r} is not a GPU index or UUID"
                + (" (SLURM's value for a job without GPUs)" if entry == "NoDevFiles" else "")
                + "; ask the scheduler for GPUs (e.g. sbatch --gres=gpu:1), or run on the CPU "
                "with --gpus none"
            )
    by_index: dict[str, list[str]] = {}  # GPU index -> its id, or its MIG slices' ids
    for g in listed:
        by_index.setdefault(g.index.split(":")[0], []).append(g.uuid)
    numeric = all(e.isdigit() for e in entries)
    if numeric and listed and not set(entries) <= set(by_index) and len(by_index) == len(entries):
        return tuple(g.uuid for g in listed)  # a cgroup shows only the job's GPUs, from 0
    ids: list[str] = []
    for entry in entries:
        if entry.isdigit() and entry in by_index:
            ids.extend(by_index[entry])
        elif not entry.isdigit():
            ids.append(next((g.uuid for g in listed if g.uuid.startswith(entry)), entry))
        else:
            ids.append(entry)  # nvidia-smi is missing or does not know it: CUDA will say
    return tuple(dict.fromkeys(ids))


def choose_gpus(
    visible: tuple[str, ...], requested: Sequence[int] | None, source: str = "resources.gpus"
) -> tuple[str, ...]:
    """The ids `requested` (indices into `visible`, as CUDA numbers the visible GPUs) picks;
    None: all. A UserError (exit 2, before anything starts) for an index that is not there."""
    if requested is None:
        return visible
    shown = ",".join(str(i) for i in requested)
    if len(set(requested)) != len(requested):
        raise UserError(f"{source} {shown}: a GPU is listed twice; use jobs_per_gpu for more slots")
    missing = [i for i in requested if not 0 <= i < len(visible)]
    if missing:
        have = (
            f"{len(visible)} GPU(s) are visible here (indices 0 to {len(visible) - 1})"
            if visible
            else "no GPU is visible here (nvidia-smi lists none, or CUDA_VISIBLE_DEVICES hides them)"
        )
        raise UserError(
            f"{source} {shown}: GPU {missing[0]} does not exist: {have}; the indices count the "
            "GPUs this process may use (CUDA_VISIBLE_DEVICES / SLURM_JOB_GPUS), from 0; "
            "use --gpus none to run on the CPU"
        )
    return tuple(visible[i] for i in requested)


# --------------------------------------------------------------------------- the pre-flight check

# Run in a child with a slot's environment: what torch sees there, as one line of JSON.
PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch
    ok, error, name, capability = torch.cuda.is_available(), "", "", ""
    try:
        if ok:
            torch.zeros(1, device="cuda").add_(1)
            name = torch.cuda.get_device_name(0)
            capability = ".".join(map(str, torch.cuda.get_device_capability(0)))
    except Exception as err:
        ok, error = False, f"{type(err).__name__}: {err}"
error = error or " ".join(str(w.message) for w in caught)
print(json.dumps({"ok": ok, "torch": torch.__version__, "cuda": torch.version.cuda,
                  "error": error.strip().splitlines()[0] if error.strip() else "",
                  "name": name, "capability": capability}))
"""


def check_gpus_usable(
    command: list[str], envs: Mapping[str, Mapping[str, str]], timeout_s: float = 120
) -> list[str]:
    """Check, before any trial starts, that torch can use each GPU in a child with a slot's
    environment (`envs`: GPU id -> that environment, `runner.queue.slots.gpu_envs`; the child:
    `command` + ["--probe-gpu"], the worker's). Returns one line per GPU ("GPU-...: NVIDIA H100
    (compute capability 9.0)"); a UserError naming the driver, torch's CUDA and what to do when
    it cannot."""
    procs = {
        gpu: subprocess.Popen(
            [*command, "--probe-gpu"],
            env=dict(env),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for gpu, env in envs.items()
    }
    try:
        seen = {gpu: _answer(proc, timeout_s) for gpu, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for gpu, answer in seen.items():
        if not answer["ok"]:
            raise UserError(_unusable(gpu, answer, len(envs)))
    return [f"{gpu}: {a['name']} (compute capability {a['capability']})" for gpu, a in seen.items()]


def _answer(proc: subprocess.Popen, timeout_s: float) -> dict:
    """The probe's JSON line, or a failed answer with the last line it wrote to stderr."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"no answer in {timeout_s:.0f} s", "torch": "?", "cuda": "?"}
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (err.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": tail, "torch": "?", "cuda": "?"}


# The oldest NVIDIA driver each CUDA major version runs on (CUDA's minor version compatibility).
MIN_DRIVER = {"11": "450.80.02", "12": "525.60.13", "13": "580.65.06"}


def _unusable(gpu: str, seen: dict, n_gpus: int) -> str:
    driver = driver_version() or "unknown"
    cuda = seen.get("cuda")
    needs = MIN_DRIVER.get(str(cuda).split(".")[0])
    why = f": {seen['error']}" if seen.get("error") else ""
    return (
        f"GPUs: nvidia-smi lists {n_gpus} GPU(s) for the slots, but torch {seen.get('torch')} "
        f"(CUDA {cuda or 'none: a CPU-only build'}) cannot use {gpu} in a slot's environment "
        f"(NVIDIA driver {driver}{f'; CUDA {cuda} needs {needs} or newer' if needs else ''}){why}. "
        "Update the driver, give the process the GPU device files (a container: --gpus all), "
        "or run on the CPU with --gpus none"
    )


def driver_version() -> str | None:
    """The NVIDIA driver's version as nvidia-smi reports it; None when it cannot."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (subprocess.SubprocessError, OSError):
        return None
    return out.strip().splitlines()[0].strip() if out.strip() else None
