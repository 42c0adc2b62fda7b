"""The fast PCEN and exp (blocked-scan smoother, closed-form backward) against the implementation
they replaced (benchmarks/pcen_reference.py), the float64 reference: the FFT smoother with autograd through the
formulas. Values and gradients agree to 1e-6 relative over random shapes, frame counts 1 to 2000
(primes included), every init, global and per band; `gradcheck` checks the backward itself."""

from __future__ import annotations

import pytest
import torch

from benchmarks.pcen_reference import reference_pcen
from frontends import _smoother, functional
from frontends._names import PCEN_INITS

RTOL = 1e-6
# Frame counts: tiny, around the block lengths, primes (the FFT's slow sizes), the demo's 517.
FRAMES = (1, 2, 3, 7, 24, 47, 64, 65, 97, 128, 251, 517, 1009, 1999, 2000)


def _params(gen: torch.Generator, shape: tuple[int, ...]) -> list[torch.Tensor]:
    def uniform(lo: float, hi: float) -> torch.Tensor:
        return (
            lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)
        ).requires_grad_()

    # smoothing, gain, bias, power, eps: the ranges the presets and training reach.
    return [uniform(0.01, 0.5), uniform(0.3, 0.99), uniform(0.01, 10.0), uniform(0.05, 0.9),
            uniform(1e-7, 1e-3)]  # fmt: skip


def _energy(gen: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    """Normalised energies over many decades, loud events over a quiet floor."""
    energy = torch.rand(shape, generator=gen, dtype=torch.float64) ** 6
    return (energy / energy.max()).requires_grad_()


def _assert_close(ours: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    # Relative to each element, the denominator floored at 1e-6 of the largest and at 1e-8: the
    # reference's FFT leaves rounding noise ~1e-16 of the peak where the true value is ~0 (and
    # d/ds is exactly 0 for one looped frame).
    denominator = ref.abs() + 1e-6 * ref.abs().max() + 1e-8
    rel = ((ours - ref).abs() / denominator).max().item()
    assert rel < RTOL, f"{what}: max relative difference {rel:.3g}"


@pytest.mark.parametrize("n_time", FRAMES)
def test_values_and_gradients_equal_the_fft_reference(n_time):
    gen = torch.Generator().manual_seed(n_time)
    for init in PCEN_INITS:
        for per_band in (False, True):
            batch, bands = 1 + n_time % 3, 1 + (n_time * 7) % 5
            energy = _energy(gen, (batch, bands, n_time))
            params = _params(gen, (bands, 1) if per_band else (1, 1))
            weights = torch.randn(energy.shape, generator=gen, dtype=torch.float64)
            ours = functional.pcen(energy, *params, init)
            ref = reference_pcen(energy, *params, init)
            where = f"T={n_time} init={init} per_band={per_band}"
            _assert_close(ours, ref, f"values, {where}")
            inputs = (energy, *params)
            grads = torch.autograd.grad((ours * weights).sum(), inputs)
            ref_grads = torch.autograd.grad((ref * weights).sum(), inputs)
            names = ("energy", "smoothing", "gain", "bias", "power", "eps")
            for name, got, want in zip(names, grads, ref_grads):
                _assert_close(got, want, f"d/d{name}, {where}")


@pytest.mark.parametrize("init", PCEN_INITS)
@pytest.mark.parametrize("per_band", [False, True])
def test_pcen_backward_passes_gradcheck(init, per_band):
    gen = torch.Generator().manual_seed(1)
    energy = _energy(gen, (2, 3, 11))
    params = _params(gen, (3, 1) if per_band else ())
    assert torch.autograd.gradcheck(lambda *xs: functional.pcen(*xs, init), (energy, *params))


@pytest.mark.parametrize("per_band", [False, True])
def test_exp_backward_passes_gradcheck_and_equals_pow(per_band):
    gen = torch.Generator().manual_seed(2)
    # Away from 0, where S^w is smooth on the scale of gradcheck's finite differences (1e-6).
    spec = (0.05 + torch.rand((2, 3, 17), generator=gen, dtype=torch.float64)).requires_grad_()
    a = torch.randn((3, 1) if per_band else (1, 1), generator=gen, dtype=torch.float64)
    a.requires_grad_()
    assert torch.autograd.gradcheck(functional.exp_compress, (spec, a))
    weights = torch.randn(spec.shape, generator=gen, dtype=torch.float64)
    ours = functional.exp_compress(spec, a)
    ref = spec.clamp_min(1e-12).pow(torch.sigmoid(-a))
    _assert_close(ours, ref, "exp values")
    for got, want in zip(
        torch.autograd.grad((ours * weights).sum(), (spec, a)),
        torch.autograd.grad((ref * weights).sum(), (spec, a)),
    ):
        _assert_close(got, want, "exp gradients")


def test_inference_path_equals_the_training_path():
    """Without a gradient to record (inference, export) the plain formulas run: same values."""
    gen = torch.Generator().manual_seed(3)
    energy = _energy(gen, (2, 4, 517)).detach()
    params = _params(gen, (4, 1))
    trained = functional.pcen(energy, *params, "loop")
    with torch.no_grad():
        plain = functional.pcen(energy, *params, "loop")
    assert trained.grad_fn is not None and plain.grad_fn is None
    torch.testing.assert_close(plain, trained.detach(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_time", [1, 5, 64, 97, 517])
def test_reverse_smoother_is_the_forward_one_on_the_flipped_input(n_time):
    gen = torch.Generator().manual_seed(n_time)
    energy = _energy(gen, (2, 3, n_time)).detach()
    smoothing = 0.01 + 0.5 * torch.rand((3, 1), generator=gen, dtype=torch.float64)
    for start in (None, torch.rand((2, 3, 1), generator=gen, dtype=torch.float64)):
        flipped = _smoother.smooth(energy.flip(-1), smoothing, start).flip(-1)
        reverse = _smoother.smooth(energy, smoothing, start, reverse=True)
        torch.testing.assert_close(reverse, flipped, rtol=1e-12, atol=1e-15)


def test_min_max_normalisation_backward_equals_autograd_and_passes_gradcheck():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand((3, 4, 9), generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(functional.normalize_min_max, (x,))
    weights = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    ours = functional.normalize_min_max(x)
    lo = x.amin(dim=(-2, -1), keepdim=True)
    ref = (x - lo) / (x.amax(dim=(-2, -1), keepdim=True) - lo)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-15)
    got = torch.autograd.grad((ours * weights).sum(), x)[0]
    want = torch.autograd.grad((ref * weights).sum(), x)[0]
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_a_constant_example_normalises_to_zeros_with_a_finite_gradient():
    x = torch.full((2, 3, 5), 0.25, dtype=torch.float64, requires_grad=True)
    y = functional.normalize_min_max(x)
    assert (y == 0).all()
    (grad,) = torch.autograd.grad((y * torch.arange(30.0).view(2, 3, 5)).sum(), x)
    # Scaled by 1 and shifted by the minimum: the shift's gradient (-sum g) lands on one element.
    assert torch.isfinite(grad).all() and grad.sum().abs() < 1e-12


def test_the_smoothers_reused_matrices_follow_the_smoothing_values():
    """The CPU scan keeps its last matrices while the smoothing keeps its values (the chunks of a
    batch, forward and backward); a smoothing changed in place, as an optimiser step does, gets
    new ones."""
    gen = torch.Generator().manual_seed(5)
    energy = _energy(gen, (2, 4, 97)).detach()
    smoothing = 0.01 + 0.5 * torch.rand((4, 1), generator=gen, dtype=torch.float64)
    for _ in range(2):  # the second run takes the cached plan
        for reverse in (False, True):
            ref = reference_smooth(energy, smoothing, reverse)
            ours = _smoother.smooth(energy, smoothing, None, reverse=reverse)
            torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-14)
        with torch.no_grad():
            smoothing.mul_(0.5)  # an optimiser step: same tensor, new values


def reference_smooth(energy: torch.Tensor, smoothing: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The looped smoother by its definition: the recursion run over the input tiled 50 times."""
    x = energy.flip(-1) if reverse else energy
    state = torch.zeros(x.shape[:-1], dtype=x.dtype)
    s = smoothing[:, 0]
    for _ in range(50):
        out = []
        for t in range(x.shape[-1]):
            state = s * x[..., t] + (1 - s) * state
            out.append(state)
    out = torch.stack(out, -1)
    return out.flip(-1) if reverse else out


@pytest.mark.parametrize("largest", [False, True])
def test_min_max_extremes_and_their_positions(largest):
    """`_extreme`: the min (max) of each example and the flat index `min(dim)` gives, ties included."""
    from frontends._autograd import _extreme

    gen = torch.Generator().manual_seed(6)
    x = torch.rand((3, 2, 7, 11), generator=gen)
    x[0, 0, 2, 3] = x[0, 0, 5, 1] = x[0, 0, 1, 9] = -1.0 if not largest else 2.0  # tied extremes
    x[1, 1] = 0.5  # a constant example
    flat = x.flatten(-2)
    value, at = _extreme(x, largest)
    ref_value = (flat.amax if largest else flat.amin)(dim=-1, keepdim=True)
    assert torch.equal(value, ref_value)
    assert torch.equal(torch.gather(flat, -1, at), ref_value)  # the index points at the extreme
    assert at[0, 0].item() == 1 * 11 + 9  # ties: the first row holding it, then the first column
    assert at[1, 1].item() == 0


def _unfused_exp_image(spec, a, size):
    image = functional.normalize_min_max(functional.exp_compress(spec, a)).unsqueeze(1)
    return image if size is None else functional.resize(image, size)


@pytest.mark.parametrize("size", [(16, 20), (24, 90), (40, 10), None])
def test_fused_exp_image_equals_the_three_steps(size):
    """`functional.exp_image` (exp -> normalise -> resize as one function): the same image bit for
    bit, and the exponent's gradient of the three separate functions; gradcheck in float64."""
    gen = torch.Generator().manual_seed(7)
    spec = _energy(gen, (3, 24, 45)).detach()
    spec[1] = 0.25  # a constant example
    spec[2, 3, 4] = spec[2, 7, 9] = 0.0  # tied minima (floored)
    for dtype in (torch.float32, torch.float64):
        a = torch.tensor([[0.3]], dtype=dtype, requires_grad=True)
        x = spec.to(dtype)
        fused = functional.exp_image(x, a, size)
        unfused = _unfused_exp_image(x, a, size)
        assert fused is not None and fused.grad_fn is not None
        assert torch.equal(fused, unfused)
        weights = torch.randn(fused.shape, generator=gen, dtype=torch.float64).to(dtype)
        (got,) = torch.autograd.grad((fused * weights).sum(), a)
        (want,) = torch.autograd.grad((unfused * weights).sum(), a)
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * 1e-2)
    a = torch.tensor([[-0.4]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: functional.exp_image(spec, a, size), (a,))


def test_fused_exp_image_only_where_it_applies():
    spec = torch.rand(2, 8, 30, dtype=torch.float64)
    per_band = torch.zeros(8, 1, dtype=torch.float64, requires_grad=True)
    fixed = torch.zeros(1, 1, dtype=torch.float64)
    assert functional.exp_image(spec, per_band, (8, 10)) is None  # one number only
    assert functional.exp_image(spec, fixed, (8, 10)) is None  # nothing to learn
    with torch.no_grad():  # inference and export: the plain formulas
        assert functional.exp_image(spec, fixed.requires_grad_(), (8, 10)) is None
    assert functional.exp_image(spec.requires_grad_(), fixed, (8, 10)) is None
