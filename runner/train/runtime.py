"""The process a trial runs in: its device, its seeds, and whether kernels are deterministic.

device = resolve_device("cuda:1")   # a UserError when no GPU is visible
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
    """`device` as a torch.device; None picks CUDA when available. A missing GPU is a UserError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"--device {device}: not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is visible here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"--device {device}: only cpu and cuda are supported")
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
