"""The bilinear resize with its backward as two matrix products (`torch.autograd.Function`).

A bilinear resize (antialiased or not) is linear and separable: `out = A_f X A_t^T` with one
matrix per axis, `(H', H)` and `(W', W)`. Its exact matrix is the resize of an identity along
that axis (the other axis keeps its size, where the resize is the identity), built once per
(size, antialias, dtype, device) and cached. The forward stays `F.interpolate` (measured faster
than the products on CPU, and bit-identical to the resize without a gradient); the backward,
`dX = A_f^T dY A_t`, replaces the antialiased kernel's own backward, a scalar scatter loop that
cost 3x its forward (benchmarks/RESULTS.md). An axis that keeps its size skips its product. On
the CPU the time axis's product is sparse (CSR): the matrix is banded, a few inputs per output.
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F


def shrinks(in_size: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether a resize `in_size -> size` shrinks a side, i.e. must be antialiased."""
    return size[0] < in_size[0] or size[1] < in_size[1]


def interpolate(image: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """`F.interpolate(image, size, mode="bilinear", align_corners=False, antialias=antialias)`."""
    return F.interpolate(
        image, size=size, mode="bilinear", align_corners=False, antialias=antialias
    )


@functools.lru_cache(maxsize=32)
def axis_matrix(
    n_in: int, n_out: int, antialias: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """The `(n_out, n_in)` matrix of the resize along one axis, or None where it is the identity.
    Built in float64 from the resize of an identity `(n_in, n_in) -> (n_out, n_in)`."""
    eye = torch.eye(n_in, dtype=torch.float64)[None, None]  # (1, 1, n_in, n_in)
    matrix = interpolate(eye, (n_out, n_in), antialias)[0, 0]  # (n_out, n_in)
    if n_in == n_out and torch.equal(matrix, eye[0, 0]):
        return None
    return matrix.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _sparse_transpose(
    n_in: int, n_out: int, antialias: bool, dtype: torch.dtype
) -> torch.Tensor | None:
    """`axis_matrix(...).T` `(n_in, n_out)` in CSR form on the CPU, or None for the identity. A
    resize matrix is banded (each output reads a few inputs: ~4 at 517 -> 256), so the product
    with it as CSR does ~1/60 of a dense GEMM's work: 0.34 -> 0.09 ms per (3, 1, 64, 256) chunk
    on one thread, with the same sums (benchmarks/RESULTS.md)."""
    matrix = axis_matrix(n_in, n_out, antialias, dtype, torch.device("cpu"))
    if matrix is None:
        return None
    with warnings.catch_warnings():  # "Sparse CSR tensor support is in beta state"
        warnings.simplefilter("ignore", UserWarning)
        return matrix.T.contiguous().to_sparse_csr()


def _time_backward(grad: torch.Tensor, w_in: int, antialias: bool) -> torch.Tensor:
    """`grad (..., W') @ A_t` `(..., W)` (`grad` itself where time keeps its size). On the CPU,
    outside a double backward, as the CSR product `(A_t^T grad^T)^T`; else a dense product."""
    w_out = grad.shape[-1]
    if grad.device.type == "cpu" and not torch.is_grad_enabled():
        sparse = _sparse_transpose(w_in, w_out, antialias, grad.dtype)
        if sparse is None:
            return grad
        flat = grad.reshape(-1, w_out)
        return (sparse @ flat.T).T.reshape(*grad.shape[:-1], w_in)
    along_t = axis_matrix(w_in, w_out, antialias, grad.dtype, grad.device)  # (W', W)
    return grad if along_t is None else grad @ along_t


class ResizeFunction(torch.autograd.Function):
    """`interpolate(image, size, antialias)` with the backward `A_f^T dY A_t` (twice
    differentiable: the backward is made of differentiable products)."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
        ctx.in_size = tuple(image.shape[-2:])
        ctx.size, ctx.antialias = tuple(size), antialias
        return interpolate(image, size, antialias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (h_in, w_in), h_out = ctx.in_size, ctx.size[0]
        along_f = axis_matrix(h_in, h_out, ctx.antialias, grad.dtype, grad.device)  # (H', H)
        grad = _time_backward(grad, w_in, ctx.antialias)  # (B, C, H', W)
        if along_f is not None:
            grad = along_f.T @ grad  # (B, C, H, W)
        return grad.contiguous(), None, None
