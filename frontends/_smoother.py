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


def smooth(x: torch.Tensor, smoothing: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
    """The smoother over the last axis of `x (..., F, T)`; `smoothing` is `()`, `(1, 1)` or `(F, 1)`.

    `start` is `M_{-1}`, broadcastable to `(..., F, 1)`, or None for the looped smoother.
    """
    n_time = x.shape[-1]
    s = smoothing.reshape(-1, 1).to(x.dtype)  # (F', 1), F' = 1 or F
    log_a = torch.log1p(-s)  # log(1 - s)
    block = block_length(n_time)
    n_blocks = -(-n_time // block)
    pad = n_blocks * block - n_time
    blocks = torch.nn.functional.pad(x, (0, pad)) if pad else x
    blocks = blocks.reshape(*x.shape[:-1], n_blocks, block)  # (..., F, nb, L)

    steps = torch.arange(block, dtype=x.dtype, device=x.device)
    lag = steps - steps[:, None]  # lag[j, i] = i - j
    causal = lag >= 0
    kernel = torch.where(causal, s.unsqueeze(-1) * _powers(log_a, lag.clamp_min(0)), 0.0)
    if kernel.shape[0] == 1:
        local = blocks @ kernel[0]  # (..., F, nb, L): one GEMM over every row
    else:
        local = blocks @ kernel  # (F, L, L) broadcast: one (nb x L) @ (L x L) per row
    # Carries: state at each block's end for a run started at 0, T0_k = sum_{j<=k} A^(k-j) last_j,
    # A = a^L, as a product with the (nb x nb) upper-triangular matrix P[j, k] = A^(k-j).
    blk = torch.arange(n_blocks, dtype=x.dtype, device=x.device)
    blk_lag = blk - blk[:, None]
    upper = torch.where(blk_lag >= 0, _powers(log_a * block, blk_lag.clamp_min(0)), 0.0)
    last = local[..., -1].unsqueeze(-2)  # (..., F, 1, nb)
    ends = (last @ upper).squeeze(-2)  # (..., F, nb): T0_k
    if start is None:
        # M^0_{T-1} sits at offset `block - 1 - pad` of the last block (the padding is at the end).
        offset = block - 1 - pad
        end = local[..., -1, offset]
        if n_blocks > 1:
            end = end + torch.exp(log_a[:, 0] * (offset + 1)) * ends[..., -2]
        start = (end / -torch.expm1(log_a[:, 0] * n_time)).unsqueeze(-1)  # M^loop_{T-1}
    # The state entering block k: T0_{k-1} + A^k c (T0_{-1} = 0).
    entering = torch.nn.functional.pad(ends[..., :-1], (1, 0))
    entering = entering + _powers(log_a * block, blk)[:, 0] * start  # (..., F, nb)
    decay = _powers(log_a, steps + 1)  # (F', 1, L): a^(i+1)
    # In place unless autograd records this (it saved `last`, a view of `local`).
    add = local.addcmul if local.requires_grad else local.addcmul_
    out = add(entering.unsqueeze(-1), decay)  # (..., F, nb, L)
    out = out.reshape(*x.shape[:-1], n_blocks * block)
    return out[..., :n_time] if pad else out
