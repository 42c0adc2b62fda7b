"""Where children run: one slot per GPU x jobs_per_gpu (or CPU slots), and each slot's threads.

    slots = plan_slots(sweep.resources)          # GPUs from runner.queue.gpus, never CUDA
    env = slots[0].env(dict(os.environ))         # CUDA_VISIBLE_DEVICES and the thread variables

A slot's thread count is decided here, once (`resources.threads_per_slot`, `--threads`, else
cores // slots, the cores counted from this process's CPU affinity, `runner.cores`), and reaches a child by two roads that must agree: its environment, set before
the process starts so native libraries (OpenMP, MKL, OpenBLAS, numexpr) size their pools by it
(`thread_env`), and its job (`runner.queue.job.Job.threads`), from which it sets torch's threads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.cores import available_cores
from runner.errors import UserError
from runner.queue.gpus import choose_gpus, detect_gpus

if TYPE_CHECKING:
    from runner.sweep.config import ResourcesConfig

# Read by native libraries when they start: too late to change inside a running process.
# TORCHINDUCTOR_COMPILE_THREADS: torch.compile's worker pool (one per core by default: 8
# compiling slots on 16 cores would start 128 workers).
THREAD_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "TORCHINDUCTOR_COMPILE_THREADS",
)  # fmt: skip


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that size native libraries' thread pools to `threads`."""
    return dict.fromkeys(THREAD_VARS, str(threads))


@dataclass(frozen=True)
class Slot:
    """A place for one child: a GPU (id as CUDA_VISIBLE_DEVICES spells it) or CPU, and threads."""

    index: int
    gpu: str | None  # a UUID (GPU-..., MIG-...), or an index where nvidia-smi is missing
    threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpu is not None else "cpu"

    def describe(self) -> str:
        # A UUID's first 8 hex digits tell the GPUs of a machine apart (`nvidia-smi -L` shows all).
        short = self.gpu[:12] if self.gpu and self.gpu[:4] in ("GPU-", "MIG-") else self.gpu
        where = f"gpu {short}" if self.gpu is not None else "cpu"
        return f"{where} ({self.threads} thread{'s' if self.threads > 1 else ''})"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The child's environment: only its GPU visible (none for a CPU slot), its threads."""
        return {
            **base,
            "CUDA_VISIBLE_DEVICES": self.gpu if self.gpu is not None else "",
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # numeric ids as nvidia-smi and NVML count
            **thread_env(self.threads),
            "PYTHONUNBUFFERED": "1",
        }


def plan_slots(
    resources: ResourcesConfig,
    *,
    gpus: tuple[str, ...] | None = None,
    cores: int | None = None,
    source: str = "resources.gpus",
) -> list[Slot]:
    """Slots for this machine. GPUs: each GPU x jobs_per_gpu (`slots` caps the total);
    CPU only: `slots` (default 1) sharing the cores. Threads per slot: `threads_per_slot`, else
    cores // slots (at least 1).

    gpus: the visible GPUs' ids (default: `runner.queue.gpus.detect_gpus()`), of which
    `resources.gpus` picks by index (a UserError naming `source` for one that is not there).
    cores: default the cores this process may run on (`runner.cores.available_cores`)."""
    cores = cores or available_cores()
    if resources.gpus == ():  # --gpus none: the CPU, whatever is visible
        gpus = ()
    else:
        gpus = choose_gpus(detect_gpus() if gpus is None else gpus, resources.gpus, source)
    if gpus:
        ids: list[str | None] = [g for g in gpus for _ in range(resources.jobs_per_gpu)]
        if resources.slots is not None:
            if resources.slots > len(ids):
                raise UserError(
                    f"resources.slots: {resources.slots} is more than GPUs x jobs_per_gpu = "
                    f"{len(gpus)} x {resources.jobs_per_gpu}; raise jobs_per_gpu or lower slots"
                )
            ids = ids[: resources.slots]
    else:
        ids = [None] * (resources.slots or 1)
    threads = resources.threads_per_slot or max(1, cores // len(ids))
    return [Slot(i, g, threads) for i, g in enumerate(ids)]


def gpu_envs(slots: list[Slot]) -> dict[str, dict[str, str]]:
    """One slot's environment per GPU the slots use (for `runner.queue.gpus.check_gpus_usable`)."""
    envs: dict[str, dict[str, str]] = {}
    for slot in slots:
        if slot.gpu is not None and slot.gpu not in envs:
            envs[slot.gpu] = slot.env(dict(os.environ))
    return envs
