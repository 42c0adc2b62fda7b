"""Where children run: one slot per GPU x jobs_per_gpu (or CPU slots), and each slot's threads.

    slots = plan_slots(sweep.resources)          # GPUs found with `nvidia-smi -L`, never CUDA
    env = slots[0].env(dict(os.environ))         # CUDA_VISIBLE_DEVICES and the thread variables

A slot's thread count is decided here, once (`resources.threads_per_slot`, `--threads`, else
cores // slots), and reaches a child by two roads that must agree: its environment, set before
the process starts so native libraries (OpenMP, MKL, OpenBLAS, numexpr) size their pools by it
(`thread_env`), and its job (`runner.queue.job.Job.threads`), from which it sets torch's threads.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runner.errors import UserError

if TYPE_CHECKING:
    from runner.sweep.config import ResourcesConfig

# Read by native libraries when they start: too late to change inside a running process.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that size native libraries' thread pools to `threads`."""
    return dict.fromkeys(THREAD_VARS, str(threads))


@dataclass(frozen=True)
class Slot:
    """A place for one child: a GPU (id as CUDA_VISIBLE_DEVICES spells it) or CPU, and threads."""

    index: int
    gpu: str | None
    threads: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpu is not None else "cpu"

    def describe(self) -> str:
        where = f"gpu {self.gpu}" if self.gpu is not None else "cpu"
        return f"{where} ({self.threads} thread{'s' if self.threads > 1 else ''})"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """The child's environment: only its GPU visible (none for a CPU slot), its threads."""
        return {
            **base,
            "CUDA_VISIBLE_DEVICES": self.gpu if self.gpu is not None else "",
            **thread_env(self.threads),
            "PYTHONUNBUFFERED": "1",
        }


def detect_gpus(env: dict[str, str] | None = None) -> tuple[str, ...]:
    """GPU ids without initialising CUDA: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1")
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return ()
    return tuple(
        str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))
    )


def plan_slots(
    resources: ResourcesConfig, *, gpus: tuple[str, ...] | None = None, cores: int | None = None
) -> list[Slot]:
    """Slots for this machine. GPUs: each GPU x jobs_per_gpu (`slots` caps the total);
    CPU only: `slots` (default 1) sharing the cores. Threads per slot: `threads_per_slot`, else
    cores // slots (at least 1)."""
    cores = cores or os.cpu_count() or 1
    if resources.gpus is not None:
        gpus = tuple(str(g) for g in resources.gpus)
    elif gpus is None:
        gpus = detect_gpus()
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
