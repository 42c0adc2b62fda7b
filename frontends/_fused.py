"""exp -> [0, 1] normalisation -> resize as one autograd function, for one global exponent.

With a single learnable number `a` and a spectrogram that needs no gradient, the backward needs no
gradient image at all. The normalisation is affine per example and the resize is linear with
rows that sum to 1, so the image's derivative in `a` is the resize of the normalised map's:

    R = resize(N),  N = (y - lo) s,  s = 1 / (hi - lo),  y = S^w,  w = sigmoid(-a)
    dy/da = c z,  c = -w (1 - w),  z = y log S
    dR/da = c s (resize(z) - z_lo - R (z_hi - z_lo))      (z_lo, z_hi: z where y is lowest, highest)

and the exponent's gradient is three dot products of the output's gradient g per example:

    dL/da = c sum_b s_b (<g, resize(z)> - z_lo sum(g) - (z_hi - z_lo) <g, R>)

One more resize in the forward (of z) replaces the resize's, the normalisation's and exp's
backward passes over the image and the tensors they keep (benchmarks/RESULTS.md). A constant
example (hi = lo) is scaled by 1, as `normalize_min_max` does: its R is 0 and the same formula
holds. Ties at the extremes do not matter: equal y means equal S, so equal z. The forward runs
the same operations as the three separate functions, so the image is bit-identical.
"""

from __future__ import annotations

import torch

from . import _resize
from ._autograd import _extreme


def _resized(x: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """`(B, H, W)` -> `(B, 1, H', W')`: the resize of `functional.resize` (antialiased when a
    side shrinks), or none."""
    x = x.unsqueeze(1)
    if size is None or tuple(x.shape[-2:]) == tuple(size):
        return x
    return _resize.interpolate(x, tuple(size), _resize.shrinks(x.shape[-2:], size))


class ExpImageFunction(torch.autograd.Function):
    """`resize(normalize_min_max(exp_compress(spec, a, floor)).unsqueeze(1), size)`, global `a`,
    with the backward of the module docstring (no gradient for `spec`)."""

    @staticmethod
    def forward(ctx, spec, a, floor, size):
        weight = torch.sigmoid(-a)
        log_spec = spec.clamp_min(floor).log_()
        y = (log_spec * weight).exp_()  # (B, F, T)
        lo, lo_at = _extreme(y, largest=False)  # (B, 1)
        hi, hi_at = _extreme(y, largest=True)
        z = log_spec.mul_(y).flatten(-2)  # y log S, (B, F*T)
        span = hi - lo
        scale = 1.0 / torch.where(span > 0, span, torch.ones_like(span))  # (B, 1)
        flat = y.flatten(-2)
        normalised = flat.sub_(lo).mul_(scale).view(y.shape)
        image = _resized(normalised, size)
        image_z = _resized(z.view(y.shape), size)
        # The image itself may be edited in place downstream (augmentation): keep a copy.
        ctx.save_for_backward(
            a, image.detach().clone(), image_z, scale, z.gather(-1, lo_at), z.gather(-1, hi_at)
        )
        return image

    @staticmethod
    def backward(ctx, grad):
        a, image, image_z, scale, z_lo, z_hi = ctx.saved_tensors
        grad = grad.contiguous().flatten(1)  # (B, H'W')
        grad_sum = grad.sum(dim=-1, keepdim=True)
        grad_image = torch.linalg.vecdot(grad, image.flatten(1)).unsqueeze(-1)
        grad_z = torch.linalg.vecdot(grad, image_z.flatten(1)).unsqueeze(-1)
        per_example = scale * (grad_z - z_lo * grad_sum - (z_hi - z_lo) * grad_image)
        weight = torch.sigmoid(-a)
        grad_a = (-weight * (1.0 - weight)) * per_example.sum()
        return None, grad_a.reshape(a.shape), None, None
