"""Closed-form backward passes for PCEN, the exponential compression and the min-max
normalisation (`torch.autograd.Function`).

Autograd through the plain formulas saves a dozen intermediates and runs one pass over the
tensor per elementary op and per broadcast reduction. These functions save only what their
backward reads (most of it computed by the forward anyway), reduce each parameter's gradient
with one dot product, and skip the input's gradient when the input needs none (a frontend's
spectrogram never does). `functional.pcen`, `exp_compress` and `normalize_min_max` call them only
when a gradient is being recorded; without one (inference, ONNX export) they run the plain
formulas.

PCEN, with u = E (eps + M)^-gain / bias, L = log1p(u), y = bias^p expm1(p L) (p = power):

    dy/du     = p (y + b^p) / (1 + u)               dy/dgain  = -dy/du u log(eps + M)
    dy/dM     = -gain dy/du u / (eps + M) = dy/deps   dy/dbias = p / b (y - u (y + b^p) / (1 + u))
    dy/dpower = log(b) y + L (y + b^p)

and the smoother (`_smoother`): with G = S^T(dM) (the adjoint smoother: the same recursion run
backwards in time), dE = G and, since dM_t/ds obeys the recursion with input
`E_t - M_{t-1} = (E_t - M_t) / (1 - s)`, ds = sum G (E - M) / (s (1 - s)).
"""

from __future__ import annotations

import torch

from ._smoother import smooth


def _sum_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sum `x (..., F, T)` down to a parameter's shape: `()`/`(1, 1)` (all) or `(F, 1)` (per band)."""
    if like.numel() == 1:
        return x.sum().reshape(like.shape)
    return x.sum(dim=(*range(x.ndim - 2), -1)).reshape(like.shape)


def _dot_like(x: torch.Tensor, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`sum(x * y)` reduced to `like`'s shape; one BLAS dot (no temporary) for a global parameter."""
    if like.numel() == 1 and x.is_contiguous() and y.is_contiguous():
        return torch.dot(x.reshape(-1), y.reshape(-1)).reshape(like.shape)
    if like.numel() == x.shape[-2]:  # per band: a dot along time, then a sum of (..., F)
        return torch.linalg.vecdot(x, y).sum(dim=tuple(range(x.ndim - 2))).reshape(like.shape)
    return _sum_like(x * y, like)


def start_state(energy: torch.Tensor, init: str) -> torch.Tensor | None:
    """`M_{-1}` for each init: None (looped), the first frame, or librosa's 1."""
    if init == "loop":
        return None
    if init == "first_frame":
        return energy[..., :1]
    return torch.ones_like(energy[..., :1])


def _adjoint(grad: torch.Tensor, smoothing: torch.Tensor, init: str) -> torch.Tensor:
    """`S^T grad`: the smoother run backwards in time (from 0 after the end; looped if looped)."""
    start = None if init == "loop" else torch.zeros_like(grad[..., :1])
    return smooth(grad, smoothing, start, reverse=True)


def pcen_forward(energy, smoothing, gain, bias, power, eps, init):
    """PCEN and the tensors its backward reads: `(y, (M + eps, log(M + eps), u, L))`."""
    shifted = smooth(energy, smoothing, start_state(energy, init)).add_(eps)  # eps + M
    log_shifted = torch.log(shifted)
    # u = E (eps + M)^-gain / bias = E exp(-gain log(eps + M) - log bias)
    u = torch.exp(log_shifted * -gain - torch.log(bias)).mul_(energy)
    log1p_u = torch.log1p(u)
    y = torch.expm1(log1p_u * power).mul_(bias.pow(power))
    return y, (shifted, log_shifted, u, log1p_u)


class PcenFunction(torch.autograd.Function):
    """PCEN with the closed-form backward of the module docstring."""

    @staticmethod
    def forward(ctx, energy, smoothing, gain, bias, power, eps, init):
        y, saved = pcen_forward(energy, smoothing, gain, bias, power, eps, init)
        ctx.init = init
        ctx.save_for_backward(energy, smoothing, gain, bias, power, eps, y, *saved)
        return y

    @staticmethod
    def backward(ctx, grad):
        energy, s, gain, bias, power, eps, y, shifted, log_shifted, u, log1p_u = ctx.saved_tensors
        need = ctx.needs_input_grad
        grads = [None] * 7
        grad = grad.contiguous()
        b_p = bias.pow(power)
        scaled = (y + b_p).mul_(grad)  # grad (y + b^p)
        grad_y = _dot_like(grad, y, bias)
        if need[4]:
            grads[4] = torch.log(bias) * grad_y + _dot_like(scaled, log1p_u, power)
        h = scaled.div_(u + 1.0)  # grad dy/du / p
        direct = None
        if need[0]:
            agc = torch.exp(log_shifted * -gain - torch.log(bias))  # (eps + M)^-gain / bias
            direct = (power * h).mul_(agc)
        hu = h.mul_(u)
        if need[3]:
            grads[3] = power / bias * (grad_y - _sum_like(hu, bias))
        if need[2]:
            grads[2] = -power * _dot_like(hu, log_shifted, gain)
        if not (need[0] or need[1] or need[5]):
            return tuple(grads)
        grad_m = hu.div_(shifted).mul_(-gain * power)  # dLoss/dM
        if need[5]:
            grads[5] = _sum_like(grad_m, eps)
        if need[0] or need[1]:
            adj = _adjoint(grad_m, s, ctx.init)  # (..., F, T)
            if need[1]:
                # E - M = E - (eps + M) + eps
                residual = torch.sub(energy, shifted).add_(eps)
                grads[1] = _dot_like(adj, residual, s) / (s * (1.0 - s))
            if need[0]:
                if (
                    ctx.init == "first_frame"
                ):  # M_{-1} = E_0: dM_t/dE_0 gains a^(t+1) = (a / s) s a^t
                    direct[..., :1] += (1.0 - s) / s * adj[..., :1]
                grads[0] = adj.add_(direct)
        return tuple(grads)


class ExpFunction(torch.autograd.Function):
    """`max(S, floor) ** w`, w = 1 / (1 + e^a) = sigmoid(-a): one log and one exp forward; the
    backward reads log(max(S, floor)) and the output: dy/da = -w (1 - w) y log(S). When S needs
    no gradient, only the product y log(S) is kept."""

    @staticmethod
    def forward(ctx, spec, a, floor):
        weight = torch.sigmoid(-a)
        log_spec = spec.clamp_min(floor).log_()
        y = (log_spec * weight).exp_()
        ctx.floor = floor
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(spec, a, log_spec, y)
        else:  # a frontend's spectrogram: a's gradient reads only y log(S), made here in place
            ctx.save_for_backward(None, a, log_spec.mul_(y), None)
        return y

    @staticmethod
    def backward(ctx, grad):
        spec, a, log_spec, y = ctx.saved_tensors
        weight = torch.sigmoid(-a)
        grad = grad.contiguous()
        grad_spec = grad_a = None
        if ctx.needs_input_grad[1]:
            y_log = log_spec if y is None else y * log_spec
            grad_a = -weight * (1.0 - weight) * _dot_like(grad, y_log, a)
        if ctx.needs_input_grad[0]:
            # d/dS S^w = w S^w / S above the floor, 0 below it (clamp_min's gradient).
            grad_spec = torch.where(spec >= ctx.floor, grad * y * weight / spec, 0.0)
        return grad_spec, grad_a, None


def _extreme(x: torch.Tensor, largest: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The min (max) of each example `x (..., H, W)` and its flat index, both `(..., 1)`: the
    extreme of each row (a vectorised reduction), the row holding the overall one, and the
    position in that row. On the CPU that is ~3x faster than `min(dim)` with indices over the
    flattened example, which does not vectorise. Ties: the first row, then the first position."""
    rows = x.amax(dim=-1) if largest else x.amin(dim=-1)  # (..., H)
    value, row = rows.max(dim=-1, keepdim=True) if largest else rows.min(dim=-1, keepdim=True)
    line = torch.gather(x, -2, row.unsqueeze(-1).expand(*row.shape, x.shape[-1]))  # (..., 1, W)
    col = (
        line.squeeze(-2).argmax(dim=-1, keepdim=True)
        if largest
        else line.squeeze(-2).argmin(dim=-1, keepdim=True)
    )
    return value, row * x.shape[-1] + col


class MinMaxFunction(torch.autograd.Function):
    """`(x - min) / (max - min)` per example over the last two dims, with the backward written
    out: autograd's `amin`/`amax` backward builds an equality mask over the whole tensor for
    each, several passes; here the extremes' positions are kept, and their two gradients are
    added at those positions. (At a tie the extreme's gradient goes to one of the tied
    elements instead of being split between them: the same total, another valid subgradient.)

    With y = (x - lo) / span: dy/dx = 1 / span, d/dlo = sum g (y - 1) / span, d/dhi = -sum g y / span;
    a constant example (span 0) is scaled by 1 instead, so only d/dlo = -sum g remains.
    """

    @staticmethod
    def forward(ctx, x):
        flat = x.flatten(-2)  # (..., H*W)
        lo, lo_at = _extreme(x, largest=False)  # (..., 1)
        hi, hi_at = _extreme(x, largest=True)
        span = hi - lo
        scale = 1.0 / torch.where(span > 0, span, torch.ones_like(span))
        y = (flat - lo).mul_(scale).view(x.shape)
        ctx.save_for_backward(y, scale, span > 0, lo_at, hi_at)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, scale, varies, lo_at, hi_at = ctx.saved_tensors
        grad = grad.contiguous().flatten(-2)
        flat_y = y.flatten(-2)
        grad_sum = grad.sum(dim=-1, keepdim=True)
        # (..., 1): sum g y; vecdot is ~10x faster than a batch of (1, n) @ (n, 1) products.
        grad_y = torch.linalg.vecdot(grad, flat_y).unsqueeze(-1)
        d_lo = torch.where(varies, (grad_y - grad_sum) * scale, -grad_sum)
        d_hi = torch.where(varies, -grad_y * scale, torch.zeros_like(grad_y))
        grad_x = grad * scale
        grad_x.scatter_add_(-1, lo_at, d_lo)
        grad_x.scatter_add_(-1, hi_at, d_hi)
        return grad_x.view(y.shape)
