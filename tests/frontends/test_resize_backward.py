"""The resize's backward as matrix products (`frontends._resize`) against the kernel's own
autograd: same forward bits, gradients within 1e-6 of the exact (float64) ones, gradcheck, for shrinking, growing and mixed
sizes (antialiased or not)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from frontends import functional
from frontends._resize import axis_matrix

SIZES = [
    ((64, 517), (64, 256)),  # the demo's: time shrinks (antialiased), bands kept
    ((128, 300), (96, 300)),  # bands shrink
    ((37, 91), (64, 45)),  # one grows, one shrinks (antialiased both ways)
    ((20, 33), (40, 50)),  # both grow: plain bilinear
    ((7, 1001), (7, 13)),  # a strong shrink
]


def _reference(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    shrinks = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrinks)


@pytest.mark.parametrize(("in_size", "size"), SIZES)
def test_values_and_gradients_match_interpolate(in_size, size) -> None:
    torch.manual_seed(0)
    image = torch.rand(3, 2, *in_size, requires_grad=True)
    grad = torch.randn(3, 2, *size)
    ours = functional.resize(image, size)
    (ours_grad,) = torch.autograd.grad(ours, image, grad)
    assert torch.equal(ours, _reference(image, size))  # the forward is the kernel itself
    # The gradient against the kernel's own backward in float64 (in float32 that one rounds to
    # ~1e-5 where bands are resized; the products stay within 1e-6 of the exact value).
    image64 = image.detach().double().requires_grad_()
    (exact,) = torch.autograd.grad(_reference(image64, size), image64, grad.double())
    assert ours_grad.dtype == torch.float32 and ours_grad.shape == image.shape
    torch.testing.assert_close(ours_grad.double(), exact, rtol=1e-6, atol=1e-6)


def test_matrix_is_the_resize() -> None:
    """A_f X A_t^T reproduces the resize's values (float64) to rounding."""
    x = torch.rand(2, 1, 37, 91, dtype=torch.float64)
    along_f = axis_matrix(37, 64, True, torch.float64, x.device)
    along_t = axis_matrix(91, 45, True, torch.float64, x.device)
    torch.testing.assert_close(along_f @ x @ along_t.T, _reference(x, (64, 45)), rtol=0, atol=1e-12)
    assert axis_matrix(64, 64, True, torch.float64, x.device) is None  # a kept axis: no product


@pytest.mark.parametrize(("in_size", "size"), [((6, 23), (6, 9)), ((9, 5), (4, 8))])
def test_gradcheck(in_size, size) -> None:
    image = torch.rand(2, 1, *in_size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: functional.resize(x, size), (image,))
    assert torch.autograd.gradgradcheck(lambda x: functional.resize(x, size), (image,))


def test_without_gradient_is_plain_interpolate() -> None:
    image = torch.rand(2, 3, 64, 517)
    assert torch.equal(functional.resize(image, (64, 256)), _reference(image, (64, 256)))
