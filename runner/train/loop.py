"""The training loop of one trial: the recipe's optimizer, schedule and loss; evaluation.

    precision = Precision.for_device(cfg.train, device)    # autocast dtype, channels_last
    optimizer = make_optimizer(model, cfg.train)
    loss_fn = make_loss(cfg.train, train_targets)           # runner.train.recipe
    stats = train_one_epoch(model, loader, optimizer, cfg.train, device, 0, precision,
                            loss_fn=loss_fn)
    scores, targets = predict(model, eval_loader, device, precision)

`train_one_epoch` times itself honestly: the clock is read after the device has finished the
epoch's work (CUDA kernels are asynchronous), and it covers the whole loop, data loading included
(the loader's batches come from runner.train.pipeline), but nothing before or after it
(docs/design.md, decision 8).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from frontends import check_finite_waveform
from runner.sweep.train_config import TrainConfig
from runner.train.pipeline import to_images

# How often (optimisation steps) the running loss is checked for NaN/inf: each check is one device
# sync, so not every step on a GPU; a diverged model is caught within this many steps.
NAN_CHECK_EVERY = 25


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite (a diverged run): the trial fails as `nan_loss`."""


# --------------------------------------------------------------------------- device settings


@dataclass(frozen=True)
class Precision:
    """What the recipe's `amp` and `channels_last` mean on this device."""

    amp_dtype: torch.dtype | None  # autocast dtype, or None for float32
    channels_last: bool

    @classmethod
    def for_device(cls, cfg: TrainConfig, device: torch.device) -> Precision:
        """`amp: auto` is bf16 on a GPU with bf16 tensor cores (compute capability 8.0 or more:
        A100, H100, RTX 30xx on); older GPUs (V100, T4) have no cuDNN bf16 convolutions, so
        float32 there. `channels_last: null` follows the device (on for CUDA)."""
        cuda = device.type == "cuda"
        if cfg.amp == "bf16" or (cfg.amp == "auto" and cuda and has_bf16_cores(device)):
            amp = torch.bfloat16
        else:
            amp = None
        channels_last = cuda if cfg.channels_last is None else cfg.channels_last
        return cls(amp, channels_last)

    def autocast(self, device: torch.device):
        return torch.autocast(
            device_type=device.type, dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )  # fmt: skip


def has_bf16_cores(device: torch.device) -> bool:
    """Whether the CUDA `device` computes bf16 in tensor cores (compute capability >= 8)."""
    return torch.cuda.get_device_capability(device)[0] >= 8


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it measures the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------- optimiser and schedule


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW; weight decay only on weights of rank >= 2 (not on biases, norm
    scales, or the frontend's scalar and per-band parameters), as timm's recipes do."""
    # The frontend's exp / PCEN values are stored (1, 1) or (n_bands, 1): rank 2, yet no weights.
    # Decayed, their logits / logs would drift towards 0 (PCEN's eps from 1e-6 towards 1) whatever
    # the gradient says, and frontend_params.json would show that drift as "learned".
    frontend = getattr(model, "frontend", None)
    frontend_ids = {id(p) for p in frontend.parameters()} if frontend is not None else set()
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and id(p) not in frontend_ids else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


# torch's OneCycleLR defaults: start at lr / 25, end at lr / 25 / 1e4, rise over 30% of the steps.
ONECYCLE_DIV, ONECYCLE_FINAL_DIV, ONECYCLE_RISE = 25.0, 1e4, 0.3


def lr_at(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Learning rate for optimisation `step` (0-based) of `epoch` (0-based).

    piecewise: lr x lr_factor ** (number of milestones already passed: a milestone m takes effect
    once m epochs are done, as torch's MultiStepLR), times a linear warm-up ramp over the first
    `warmup_epochs` (counted in steps). cosine: the same warm-up, then half a cosine from lr to 0
    over the remaining steps. onecycle: a cosine rise from lr/25 to lr over the warm-up (30% of
    the steps if `warmup_epochs` is 0), then a cosine fall to lr/25/1e4.
    """
    total = cfg.epochs * steps_per_epoch
    done = epoch * steps_per_epoch + step + 1  # steps including this one
    warmup_steps = cfg.warmup_epochs * steps_per_epoch
    if cfg.schedule == "onecycle":  # torch's OneCycleLR step for step (the peak at step rise)
        rise = (warmup_steps if warmup_steps > 0 else ONECYCLE_RISE * total) - 1
        low, i = cfg.lr / ONECYCLE_DIV, done - 1
        if i <= rise:
            return _cosine_between(low, cfg.lr, i / rise if rise > 0 else 1.0)
        return _cosine_between(cfg.lr, low / ONECYCLE_FINAL_DIV, (i - rise) / (total - 1 - rise))
    if cfg.schedule == "cosine":
        lr = cfg.lr
        if done > warmup_steps:
            lr = _cosine_between(cfg.lr, 0.0, (done - 1 - warmup_steps) / (total - warmup_steps))
    else:
        lr = cfg.lr * cfg.lr_factor ** sum(epoch >= m for m in cfg.milestones)
    if warmup_steps > 0 and done < warmup_steps:
        lr *= done / warmup_steps
    return lr


def _cosine_between(start: float, end: float, fraction: float) -> float:
    """Half a cosine from `start` (fraction 0) to `end` (fraction 1)."""
    fraction = min(max(fraction, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


# --------------------------------------------------------------------------- one epoch


@dataclass(frozen=True)
class EpochStats:
    loss: float  # mean training loss per clip and class over the epoch
    samples: int  # clips seen
    time_s: float  # wall time of the loop, device synchronised
    lr: float  # learning rate of the epoch's last step


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    cfg: TrainConfig,
    device: torch.device,
    epoch: int,
    precision: Precision,
    backbone: nn.Module | None = None,
    loss_fn=None,
) -> EpochStats:
    """One pass over `loader` (a loader, or an iterator over one already started, with a length),
    whose batches are `runner.train.pipeline.TrainBatch`es (waveforms augmented, or images already
    made, by the loader's `BatchPrep`).

    `model` has `.frontend` and `.backbone`; `backbone` may be a compiled wrapper of it.
    `loss_fn(logits, target) -> scalar` is the recipe's loss (`runner.train.recipe.make_loss`; None =
    plain BCE with logits). Raises NonFiniteLoss when the loss diverges.
    """
    loss_fn = loss_fn or F.binary_cross_entropy_with_logits
    backbone = model.backbone if backbone is None else backbone  # a compiled one has no truth value
    model.train()
    steps = len(loader)
    loss_sum = torch.zeros((), device=device)
    samples, lr = 0, cfg.lr
    synchronize(device)
    start = time.perf_counter()
    for step, batch in enumerate(loader):
        lr = lr_at(cfg, epoch, step, steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with precision.autocast(device):
            image, target = to_images(batch, model.frontend, device)  # (B, C, H, W), (B, classes)
            if precision.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            logits = backbone(image)  # (B, n_classes)
        loss = loss_fn(logits.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        loss_sum += loss.detach() * target.shape[0]
        samples += target.shape[0]
        if (step + 1) % NAN_CHECK_EVERY == 0 or step + 1 == steps:
            _check_finite(loss_sum, epoch, step)
    synchronize(device)
    elapsed = time.perf_counter() - start
    return EpochStats(float(loss_sum) / max(samples, 1), samples, elapsed, lr)


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    value = float(loss_sum)
    if not math.isfinite(value):
        raise NonFiniteLoss(
            f"training loss is {value} at epoch {epoch + 1}, step {step + 1}: the run diverged "
            "(lower train.lr, add warm-up, or set train.grad_clip)"
        )


def compile_warm_up(
    model: nn.Module,
    backbone: nn.Module,
    batch: int,
    clip_len: int,
    device: torch.device,
    precision: Precision,
) -> float:
    """Compile `backbone` (a `torch.compile` wrapper of `model.backbone`) now, with one forward
    and backward pass of a silent training batch of the trial's shape, dtype and memory format;
    the seconds it took (logged as `compile_time_s`, never as training time). Leaves no trace:
    the weights, batch-norm statistics, gradients and random generators are as before."""
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    model.train()
    synchronize(device)
    start = time.perf_counter()
    with precision.autocast(device):
        image = model.frontend(torch.zeros(batch, clip_len, device=device))  # (B, C, H, W)
        if precision.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        logits = backbone(image)  # (B, n_classes)
    logits.float().sum().backward()
    synchronize(device)
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    model.load_state_dict(saved)
    torch.set_rng_state(rng[0])
    if rng[1] is not None:
        torch.cuda.set_rng_state(rng[1], device)
    return elapsed


# --------------------------------------------------------------------------- evaluation


@torch.inference_mode()
def predict(
    model: nn.Module, loader, device: torch.device, precision: Precision
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and targets of every item of `loader`, in order: two `(n_items, n_classes)` arrays.

    Logits rather than probabilities: the ranking is the same, and float32 sigmoid saturates to
    ties at 1.0 for confident items.
    """
    model.eval()
    scores, targets = [], []
    for waveform, target in loader:
        check_finite_waveform(waveform)  # on the CPU batch: no device sync (runner.train.pipeline)
        waveform = waveform.to(device, non_blocking=True)
        with precision.autocast(device):
            image = model.frontend(waveform, check_finite=False)
            if precision.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            logits = model.backbone(image)
        scores.append(logits.float().cpu())
        targets.append(target)
    if not scores:
        return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
    return torch.cat(scores).numpy(), torch.cat(targets).numpy()


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the trial: CUDA max allocated (since the last reset), or the process's
    peak resident set size on CPU (which includes the Python runtime and the data cache pages)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
