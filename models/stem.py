"""The backbone's first convolution with its input gradient as one GEMM and a few shifted adds.

A learnable frontend needs the loss's gradient with respect to the image, so the backbone's first
convolution computes its input's gradient, which it never does after a fixed frontend. On the
CPU, oneDNN's backward-data for a convolution with a few input channels is slow: for
mobilenetv3's stem (3x3, stride 2, 1 -> 16 channels, batch 32 at 64x256, one thread) 6.0 ms,
against 1.9 ms for the same sums written out; for ResNet's 7x7 stride-2 stem (1 -> 64) 99 ms
against 13 ms (benchmarks/RESULTS.md). Written out, the input gradient is

    columns = W^T g        (C_in k k, C_out) x (C_out, H' W') per example: one GEMM
    dX[s i - p + ki, s j - p + kj] += columns[ki, kj, i, j]

and the scatter, split by stride phase (the rows and columns of dX with one remainder mod s),
is a shifted slice add per kernel tap. The weight's gradient stays oneDNN's (fast at any width).

    backbone = create_backbone(cfg, in_chans=1, n_classes=87)
    write_out_input_gradient(backbone, in_chans=1)   # the first nn.Conv2d, when it qualifies

Only the backward changes, and only on the CPU while autograd records a gradient for the image:
the forward is `F.conv2d` itself, and inference, export, `torch.compile` and CUDA take the plain
convolution. The module keeps its parameters and state-dict keys (its class becomes a subclass of
`nn.Conv2d`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

# Input channels up to which the written-out gradient was measured faster (1 and 3).
MAX_IN_CHANNELS = 4


def input_gradient(
    grad: torch.Tensor,
    weight: torch.Tensor,
    in_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    """The gradient `(B, C_in, H, W)` of a conv2d's input (dilation 1, one group) for the output
    gradient `grad (B, C_out, H', W')`: the transposed convolution, as in the module docstring."""
    batch, c_out, h_out, w_out = grad.shape
    c_in, k_h, k_w = weight.shape[1:]
    (s_h, s_w), (p_h, p_w), (height, width) = stride, padding, in_size
    # detached: matmul folds a weight that requires grad into a GEMM over (B H'W', C_out) and
    # copies the result back, 2-7x slower than the batched product it does otherwise.
    w_t = weight.detach().reshape(c_out, -1).T
    columns = w_t @ grad.reshape(batch, c_out, -1)  # (B, C_in k k, H'W')
    columns = columns.view(batch, c_in, k_h, k_w, h_out, w_out)
    # dX viewed as (B, C_in, H / s, s, W / s, s): row s m + r is [m, r]; rounded up, then cropped.
    q_h, q_w = -(-height // s_h), -(-width // s_w)
    out = grad.new_zeros(batch, c_in, q_h, s_h, q_w, s_w)
    for ki in range(k_h):
        r, di = (ki - p_h) % s_h, (ki - p_h) // s_h  # row s i - p + ki = s (i + di) + r
        m0, i0 = max(0, di), max(0, -di)
        rows = min(q_h - m0, h_out - i0)
        for kj in range(k_w):
            c, dj = (kj - p_w) % s_w, (kj - p_w) // s_w
            n0, j0 = max(0, dj), max(0, -dj)
            cols = min(q_w - n0, w_out - j0)
            if rows > 0 and cols > 0:
                # add_ on the view: `view += x` would also copy the view back onto itself.
                out[:, :, m0 : m0 + rows, r, n0 : n0 + cols, c].add_(
                    columns[:, :, ki, kj, i0 : i0 + rows, j0 : j0 + cols]
                )
    return out.view(batch, c_in, q_h * s_h, q_w * s_w)[:, :, :height, :width]


class _StemConvFunction(torch.autograd.Function):
    """`F.conv2d(x, weight, bias, stride, padding)` with the input gradient of `input_gradient`."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if need_w or need_b:
            _, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad,
                x,
                weight,
                [weight.shape[0]] if ctx.has_bias else None,
                list(ctx.stride),
                list(ctx.padding),
                [1, 1],
                False,
                [0, 0],
                1,
                [False, need_w, need_b],
            )
        if need_x:
            grad_x = input_gradient(grad, weight, tuple(x.shape[-2:]), ctx.stride, ctx.padding)
        return grad_x, grad_w, grad_b, None, None


class StemConv2d(nn.Conv2d):
    """An `nn.Conv2d` whose input gradient, on the CPU, is `input_gradient` (module docstring)."""

    def _conv_forward(self, input, weight, bias):
        if (
            input.requires_grad
            and torch.is_grad_enabled()
            and input.device.type == "cpu"
            and not torch.compiler.is_compiling()
            and not torch.compiler.is_exporting()
        ):
            return _StemConvFunction.apply(input, weight, bias, self.stride, self.padding)
        return super()._conv_forward(input, weight, bias)


def qualifies(conv: nn.Module, in_chans: int) -> bool:
    """A plain `nn.Conv2d` reading the image: `in_chans` channels (at most MAX_IN_CHANNELS), one
    group, dilation 1, zero padding given as numbers (not timm's 'same' subclasses)."""
    return (
        type(conv) is nn.Conv2d
        and conv.in_channels == in_chans <= MAX_IN_CHANNELS
        and conv.groups == 1
        and conv.dilation == (1, 1)
        and conv.padding_mode == "zeros"
        and isinstance(conv.padding, tuple)
    )


def write_out_input_gradient(backbone: nn.Module, in_chans: int) -> bool:
    """Make the backbone's first `nn.Conv2d` a `StemConv2d` when it `qualifies`; True if it did."""
    first = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None or not qualifies(first, in_chans):
        return False
    first.__class__ = StemConv2d
    return True
