"""The PCEN smoother `M_t = s x_t + (1 - s) M_{t-1}` as a blocked scan: real matrix products, no FFT.

Time is cut into `n_blocks` blocks of `block` frames. Inside a block the recursion is a product
with the lower-triangular Toeplitz matrix `K[j, i] = s a^(i - j)` (a = 1 - s), which a GEMM does at
full speed; each block then needs only the state carried in from the block before, `carry a^(i+1)`.
The carries themselves obey the same recursion one level up (block length `a^block`), solved by a
second, small triangular product. Every weight is >= 0, so M >= 0 exactly (no FFT rounding noise),
the cost is the same at every frame count (no slow prime lengths), and the whole computation is
real-valued (autograd, `torch.compile` and ONNX export all take it as it is).

The looped smoother (the spectrogram repeated forever in time) follows from the run started at 0,
because both obey the same recursion: `M^loop_t = M^0_t + a^(t+1) M^loop_{T-1}`, and at t = T - 1
that gives `M^loop_{T-1} = M^0_{T-1} / (1 - a^T)`. A run started at `M_{-1} = c` adds `a^(t+1) c`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# Block lengths tried: the one that pads the time axis least wins (ties: the longer block, fewer
# carries). 517 frames (3 s at hop 128) split into 11 blocks of 47 with no padding at all.
_BLOCKS = range(64, 23, -1)


def block_length(n_time: int) -> int:
    """The block length for `n_time` frames: the whole axis when short, else least padding."""
    if n_time <= _BLOCKS[0]:
        return n_time
    return min(_BLOCKS, key=lambda size: -n_time % size)


def _powers(log_a: torch.Tensor, exponents: torch.Tensor) -> torch.Tensor:
    """`a ** exponents` for `log_a` `(F', 1)` and integer `exponents` (any shape, >= 0), as
    `exp(exponent * log a)`: exact at a -> 1, no overflow, underflow to 0 where it belongs."""
    return torch.exp(exponents * log_a.unsqueeze(-1))  # (F', 1, ...) broadcast


class _Plan(NamedTuple):
    """Everything of the scan that depends only on the smoothing, the frame count and the direction."""

    block: int
    n_blocks: int
    pad: int
    log_a: torch.Tensor  # (F', 1): log(1 - s)
    kernel: torch.Tensor  # (F', L, L): the in-block products
    carry: torch.Tensor  # (F', nb, nb): the carries between blocks
    start_gain: torch.Tensor  # (F', nb): A^(blocks before k), the start state's weight per block
    decay: torch.Tensor  # (F', 1, L): a^(i+1) (a^(L-i) reversed)


# The last plans made on the CPU, keyed by everything but the smoothing's values, which are
# compared (a few dozen numbers): the frontend runs a CPU batch in chunks, and each chunk's
# forward and backward would otherwise rebuild the same per-band (F, L, L) kernel, measured as
# most of a per-band smoother's time (benchmarks/RESULTS.md).
_PLANS: dict[tuple, tuple[torch.Tensor, _Plan]] = {}
_MAX_PLANS = 8


def _plan(s: torch.Tensor, n_time: int, reverse: bool) -> _Plan:
    """The scan's matrices for `s` `(F', 1)`, reused while `s` keeps its values (CPU, no graph)."""
    cacheable = (
        s.device.type == "cpu"
        and not (s.requires_grad and torch.is_grad_enabled())  # the matrices carry no graph
        and not torch.compiler.is_compiling()
    )
    if not cacheable:
        return _make_plan(s, n_time, reverse)
    key = (n_time, reverse, s.dtype, tuple(s.shape))
    hit = _PLANS.get(key)
    if hit is not None and torch.equal(hit[0], s):
        return hit[1]
    plan = _make_plan(s, n_time, reverse)
    if len(_PLANS) >= _MAX_PLANS and key not in _PLANS:
        _PLANS.pop(next(iter(_PLANS)))
    _PLANS[key] = (s.detach().clone(), plan)
    return plan


def _make_plan(s: torch.Tensor, n_time: int, reverse: bool) -> _Plan:
    log_a = torch.log1p(-s)  # log(1 - s)
    block = block_length(n_time)
    n_blocks = -(-n_time // block)
    steps = torch.arange(block, dtype=s.dtype, device=s.device)
    lag = steps - steps[:, None]  # lag[j, i] = i - j: frame j feeds frame i >= j (or i <= j)
    lag = -lag if reverse else lag
    kernel = torch.where(lag >= 0, s.unsqueeze(-1) * _powers(log_a, lag.clamp_min(0)), 0.0)
    blk = torch.arange(n_blocks, dtype=s.dtype, device=s.device)
    blk_lag = blk - blk[:, None]
    blk_lag = -blk_lag if reverse else blk_lag
    carry = torch.where(blk_lag >= 0, _powers(log_a * block, blk_lag.clamp_min(0)), 0.0)
    start_gain = _powers(log_a * block, blk.flip(0) if reverse else blk)[:, 0]  # (F', nb)
    decay = _powers(log_a, block - steps if reverse else steps + 1)  # (F', 1, L)
    pad = n_blocks * block - n_time
    return _Plan(block, n_blocks, pad, log_a, kernel, carry, start_gain, decay)


def smooth(
    x: torch.Tensor, smoothing: torch.Tensor, start: torch.Tensor | None, reverse: bool = False
) -> torch.Tensor:
    """The smoother over the last axis of `x (..., F, T)`; `smoothing` is `()`, `(1, 1)` or `(F, 1)`.

    `start` is `M_{-1}`, broadcastable to `(..., F, 1)`, or None for the looped smoother.
    `reverse=True` runs the recursion backwards in time, `M_t = s x_t + a M_{t+1}` from
    `M_T = start` (the adjoint of the forward smoother, which PCEN's backward needs): every matrix
    is transposed and the padding moves to the front, so no flipped copy of `x` is made.
    """
    n_time = x.shape[-1]
    s = smoothing.reshape(-1, 1).to(x.dtype)  # (F', 1), F' = 1 or F
    plan = _plan(s, n_time, reverse)
    block, n_blocks, pad, log_a = plan.block, plan.n_blocks, plan.pad, plan.log_a
    blocks = torch.nn.functional.pad(x, (pad, 0) if reverse else (0, pad)) if pad else x
    blocks = blocks.reshape(*x.shape[:-1], n_blocks, block)  # (..., F, nb, L)
    local = _block_products(blocks, plan.kernel)  # (..., F, nb, L): each block from a state of 0
    # Carries: the state at each block's far edge for a run started at 0, T0_k = sum over the
    # blocks j before k (in the direction of the run) of A^|k-j| edge_j, A = a^L: one product with
    # a triangular (nb x nb) matrix.
    edge = local[..., 0 if reverse else -1]  # (..., F, nb)
    if plan.carry.shape[0] == 1:
        ends = edge @ plan.carry[0]  # (..., F, nb): T0_k
    else:
        ends = (edge.unsqueeze(-2) @ plan.carry).squeeze(-2)
    if start is None:
        # M^0 at the run's last real frame (t = 0 reversed, T - 1 forward), `block - pad` steps
        # after the far edge of the block before it.
        first, last, after = (1, 0, pad) if reverse else (-2, -1, block - 1 - pad)
        end = local[..., last, after]
        if n_blocks > 1:
            end = end + torch.exp(log_a[:, 0] * (block - pad)) * ends[..., first]
        start = (end / -torch.expm1(log_a[:, 0] * n_time)).unsqueeze(-1)  # M^loop at that frame
    # The state entering block k: T0 of the block before it plus A^(blocks before k) c.
    if reverse:
        entering = torch.nn.functional.pad(ends[..., 1:], (0, 1))
    else:
        entering = torch.nn.functional.pad(ends[..., :-1], (1, 0))
    entering = entering + plan.start_gain * start  # (..., F, nb)
    decay = plan.decay
    if local.requires_grad:  # autograd saved `edge`, a view of `local`: no in-place edits
        out = local.addcmul(entering.unsqueeze(-1), decay)  # (..., F, nb, L)
    elif local.is_contiguous():
        out = local.addcmul_(entering.unsqueeze(-1), decay)
    else:  # per band: the GEMMs' output is band-major; write the sum in the input's layout
        out = torch.empty(local.shape, dtype=local.dtype, device=local.device)
        out = torch.addcmul(local, entering.unsqueeze(-1), decay, out=out)
    out = out.reshape(*x.shape[:-1], n_blocks * block)
    if not pad:
        return out
    return out[..., pad:] if reverse else out[..., :n_time]


def _block_products(blocks: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """`blocks (..., F, nb, L) @ kernel` with `kernel` `(1, L, L)` (one GEMM over every row) or
    `(F, L, L)` (one GEMM per band: the bands first, a copy, and the result viewed back)."""
    if kernel.shape[0] == 1:
        return blocks @ kernel[0]
    by_band = blocks.movedim(-3, 0)  # (F, ..., nb, L)
    local = torch.bmm(by_band.reshape(kernel.shape[0], -1, blocks.shape[-1]), kernel)
    return local.reshape(by_band.shape).movedim(0, -3)  # (..., F, nb, L), strided view
