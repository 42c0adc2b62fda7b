"""The process a trial runs in: its device, its seeds, and whether kernels are deterministic.

device = resolve_device("cuda:1")   # made current; a UserError when there is no such GPU
seed_everything(spec.seed)
configure_determinism(cfg.train.deterministic, device)
sampler.seed = derive_seed(spec.seed, epoch, "batches")
"""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import torch

from runner.errors import UserError


def resolve_device(device: str | None) -> torch.device:
    """`device` as a torch.device with its index, made the current CUDA device (so a kernel or
    allocation without an explicit device lands on it too); None picks CUDA when available.
    A missing GPU or an index past the visible ones is a UserError."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"device {device}: not a device name; use cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device}: only cpu and cuda are supported")
    if dev.type == "cpu":
        return dev
    if not torch.cuda.is_available():
        raise UserError(
            f"device {device}: torch {torch.__version__} (CUDA {torch.version.cuda}) can use no "
            f"GPU here (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            "check `nvidia-smi` and the NVIDIA driver (docs/gpus.md), or run on the CPU "
            "(`--device cpu` for trial, predict and probe; `--gpus none` for a sweep)"
        )
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if index >= count:
        raise UserError(
            f"device {device}: this process sees {count} GPU(s), cuda:0 to cuda:{count - 1}"
        )
    dev = torch.device("cuda", index)
    torch.cuda.set_device(dev)
    return dev


def derive_seed(seed: int, epoch: int, purpose: str) -> int:
    """An independent 31-bit seed for one purpose in one epoch (the training batches)."""
    words = [seed, epoch, zlib.crc32(purpose.encode())]
    return int(np.random.SeedSequence(words).generate_state(1)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels when asked (slower); otherwise let cuDNN pick the fastest."""
    if deterministic and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by cuBLAS
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
