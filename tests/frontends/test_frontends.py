"""Frontends by property, over every registered compression x every frequency scale; config and
input validation; shapes of the Merlin Part 1 grid; state_dict; channels; resize; CUDA."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from frontends import (
    DbConfig,
    ExpConfig,
    FrontendConfig,
    PcenConfig,
    build_frontend,
    check_finite_waveform,
    functional,
    list_compressions,
    list_scales,
    register_compression,
)
from frontends import _registry as registry
from frontends import frontend as frontend_module

SR = 22050
SHORT = SR // 2  # half-second clips: every property here holds at any length

# Every compression variant worth telling apart: the learnable ones global and per band, and PCEN's
# three initialisations. Together with the scales, this is the grid the property tests walk.
VARIANTS = {
    "none": {"compression": "none"},
    "db": {"compression": "db"},
    "exp": {"compression": "exp"},
    "exp-per-band": {"compression": "exp", "exp": ExpConfig(per_band=True, a=0.5)},
    "pcen-loop-per-band": {"compression": "pcen", "pcen": PcenConfig(per_band=True)},
    "pcen-first-frame": {"compression": "pcen", "pcen": PcenConfig(init="first_frame")},
    "pcen-librosa": {"compression": "pcen", "pcen": PcenConfig(init="librosa")},
    "three-channels": {"compression": ("db", "pcen", "exp")},
}
SCALES = {
    "linear": {"scale": "linear"},
    "mel": {"scale": "mel", "n_mels": 32},
    "log": {"scale": "log", "n_mels": 24, "f_min": 200.0},
    "erb": {"scale": "erb", "n_mels": 32},
}


def test_every_registered_name_is_covered():
    assert {
        v["compression"] for v in VARIANTS.values() if isinstance(v["compression"], str)
    } == set(list_compressions())
    assert set(SCALES) == set(list_scales())


def _cfg(variant: str, scale: str, **extra) -> FrontendConfig:
    return FrontendConfig(
        win_length=256, hop_length=128, **VARIANTS[variant], **SCALES[scale], **extra
    )


def _learnable(frontend: nn.Module) -> dict[str, nn.Parameter]:
    return dict(frontend.named_parameters())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_backward_no_nan(variant, scale):
    frontend = build_frontend(_cfg(variant, scale, image_size=(32, 40)))
    channels = frontend.cfg.out_channels
    noise = (torch.rand(2, SHORT) * 2 - 1).requires_grad_()  # full scale: samples in [-1, 1]

    image = frontend(noise)
    assert image.shape == (2, channels, 32, 40) and image.dtype == torch.float32
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    # A loss that is not invariant to the [0, 1] normalisation, so every parameter matters.
    (image * torch.linspace(0, 1, 40)).square().sum().backward()
    for name, param in _learnable(frontend).items():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, f"{name} gets no gradient"
    # Differentiable end to end: the waveform gets a gradient too (e.g. for adversarial training).
    assert torch.isfinite(noise.grad).all() and noise.grad.abs().sum() > 0

    frontend.zero_grad()
    silence = torch.zeros(2, SHORT, requires_grad=True)
    silent = frontend(silence)
    assert torch.isfinite(silent).all() and (silent == 0).all()  # silence is black, not NaN
    silent.sum().backward()
    for name, param in _learnable(frontend).items():
        assert torch.isfinite(param.grad).all(), name
    assert torch.isfinite(silence.grad).all()

    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = frontend(noise.detach())
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, image.detach())  # autocast cannot reach inside the frontend


@pytest.mark.parametrize(
    "variant", ["db", "exp", "exp-per-band", "pcen-loop-per-band", "pcen-librosa", "three-channels"]
)
def test_a_batch_equals_its_items_one_by_one(variant):
    frontend = build_frontend(_cfg(variant, "mel", image_size=(24, 50)))
    clips = torch.randn(3, SHORT) * torch.tensor([[0.01], [0.3], [1.0]])  # different levels
    batch = frontend(clips)
    for i, clip in enumerate(clips):
        torch.testing.assert_close(frontend(clip)[0], batch[i], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "variant", ["db", "none", "exp", "exp-per-band", "pcen-loop-per-band", "three-channels"]
)
@pytest.mark.parametrize("compress_values", [1, 1 << 40])
def test_cpu_chunks_give_the_whole_batch_result_and_gradients(
    variant, compress_values, monkeypatch
):
    """On a CPU the batch runs in chunks of clips (cache-sized intermediates), and a learning
    compression in chunks of its own (CPU_COMPRESS_VALUES, here one clip or the whole batch):
    same images and same gradients as one pass over the whole batch."""
    frontend = build_frontend(_cfg(variant, "mel", image_size=(24, 50)))
    clips = torch.randn(5, SHORT) * torch.linspace(0.01, 1.0, 5)[:, None]

    def run(chunk_values: int):
        monkeypatch.setattr(frontend_module, "CPU_CHUNK_VALUES", chunk_values)
        monkeypatch.setattr(frontend_module, "CPU_COMPRESS_VALUES", compress_values)
        frontend.zero_grad()
        image = frontend(clips)
        if _learnable(frontend):
            (image * torch.linspace(0, 1, image.numel()).view_as(image)).sum().backward()
        grads = {k: p.grad.clone() for k, p in _learnable(frontend).items()}
        return image.detach(), grads

    whole, whole_grads = run(1 << 40)
    chunked, chunked_grads = run(1)  # one clip per chunk
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    for key, grad in whole_grads.items():  # float32 sums over the batch, in another order
        torch.testing.assert_close(chunked_grads[key], grad, rtol=1e-3, atol=1e-5)


def test_finite_check_is_exact_and_can_be_left_to_the_caller():
    frontend = build_frontend(FrontendConfig())
    clips = torch.zeros(3, SR)
    clips[0, 5], clips[0, 6] = float("inf"), float("-inf")  # a clip's sum is NaN
    clips[2] = 3e38  # finite, but its sum overflows: not an error
    with pytest.raises(ValueError, match=r"^waveform: 1 of 3 clips contain NaN or inf .*\[0\]"):
        check_finite_waveform(clips)
    with pytest.raises(ValueError, match="NaN or inf"):
        frontend(clips)
    check_finite_waveform(clips[1:])
    # The training loop checks the CPU batch itself, then skips the check (a GPU sync) here.
    assert frontend(clips, check_finite=False).shape[0] == 3


def merlin_part1_frontends() -> list[FrontendConfig]:
    """The frontends of the 12 configurations in sweeps/merlin_part1.yaml (the seed's Part 1 grid;
    tests/sweep/test_config.py checks the grid itself against the seed)."""
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep

    sweep = load_sweep(Path(__file__).resolve().parents[2] / "sweeps" / "merlin_part1.yaml")
    return [spec.config.frontend for spec in expand(sweep)]


@pytest.mark.parametrize(
    "cfg", merlin_part1_frontends(), ids=lambda c: f"{c.win_length}-{c.hop_length}-{c.scale}"
)
def test_merlin_part1_output_shape(cfg):
    """Every Part 1 frontend, as the sweep file resolves it, makes the image size it asks for."""
    sr, size = cfg.sample_rate, cfg.image_size
    frontend = build_frontend(cfg)
    with torch.no_grad():
        image = frontend(torch.randn(1, 3 * sr))
    assert image.shape == (1, cfg.out_channels, *size)
    assert frontend.output_shape(3 * sr) == (cfg.out_channels, *size)


def test_output_shape_without_resize_is_bands_by_frames():
    frontend = build_frontend(FrontendConfig(n_mels=64, hop_length=128))
    image = frontend(torch.randn(2, 3 * SR))
    assert image.shape == (2, 1, 64, 1 + 3 * SR // 128) == (2, *frontend.output_shape(3 * SR))


# ------------------------------------------------------------------------------ n_fft choice


def test_auto_n_fft_pads_until_no_band_is_empty_and_is_recorded():
    cfg = FrontendConfig(win_length=256, scale="mel", n_mels=128)
    resolved = cfg.resolved()
    assert cfg.n_fft is None and resolved.n_fft == 512  # 256 leaves 20 slaney bands empty
    assert resolved.resolved() is resolved  # idempotent
    assert build_frontend(cfg).cfg == resolved
    # The window length itself when nothing is empty; linear never needs padding.
    assert FrontendConfig(win_length=512, n_mels=128).resolved().n_fft == 512
    assert FrontendConfig(win_length=400, scale="linear").resolved().n_fft == 400
    # htk puts narrower bands at low frequencies: 512 leaves 3 empty.
    assert FrontendConfig(win_length=512, mel_scale="htk").resolved().n_fft == 1024


@pytest.mark.parametrize(
    ("scale", "n_mels", "padded"),
    [("mel", 64, False), ("mel", 128, True), ("log", 64, True), ("erb", 64, True)],
)
def test_no_band_is_ever_empty_after_resolution(scale, n_mels, padded):
    cfg = FrontendConfig(win_length=256, scale=scale, n_mels=n_mels, f_min=150.0).resolved()
    frontend = build_frontend(dataclasses.replace(cfg, compression="none", normalize_before=False))
    weights = frontend.scale.weights  # (n_bands, n_freqs)
    assert (weights.amax(dim=1) > 0).all()
    assert frontend.scale.count_empty(cfg, cfg.n_fft) == 0
    assert (cfg.n_fft > cfg.win_length) == padded
    # The smallest power of two from the window up that leaves none empty: every smaller one does.
    n_fft = cfg.win_length
    while n_fft < cfg.n_fft:
        assert frontend.scale.count_empty(cfg, n_fft) > 0, n_fft
        n_fft *= 2


def test_lists_and_dicts_from_python_callers_become_tuples_and_configs():
    cfg = FrontendConfig(
        compression=["db", "pcen"], image_size=[64, 128], pcen={"init": "first_frame"}
    )
    assert cfg.compression == ("db", "pcen") and cfg.image_size == (64, 128)
    assert cfg.pcen == PcenConfig(init="first_frame") and cfg.out_channels == 2
    assert hash(cfg) != hash(cfg.resolved())  # frozen and hashable (configs are cache keys)
    assert cfg.resolved() == dataclasses.replace(cfg, n_fft=512)


def test_explicit_n_fft_leaving_empty_bands_is_refused_with_the_fix():
    with pytest.raises(
        ValueError, match=r"^n_fft: 256 leaves 20 of 128 mel bands empty.*use n_fft: 512"
    ):
        FrontendConfig(win_length=256, n_fft=256, n_mels=128)


# ---------------------------------------------------------------------------- validation

BAD_CONFIGS = [
    ({"hop_length": 1024}, r"^hop_length: 1024 is larger than win_length 512"),
    ({"n_fft": 256}, r"^n_fft: 256 is smaller than win_length 512"),
    ({"window": "hanning"}, r"^window: unknown window 'hanning'"),
    ({"power": 0.0}, r"^power: 0.0 must be > 0"),
    ({"f_max": 20000.0}, r"^f_max: 20000.0 Hz .* at most the Nyquist frequency 11025.0"),
    ({"f_min": 500.0, "f_max": 400.0}, r"^f_max: 400.0 Hz must be above f_min 500.0"),
    ({"scale": "log"}, r"^f_min: the log scale needs f_min > 0 Hz"),
    ({"n_mels": 0}, r"^n_mels: 0 must be >= 1"),
    ({"compression": "decibel"}, r"^compression: unknown compression 'decibel'; use one of"),
    ({"compression": ("db", "exp", "pcen", "none")}, r"^compression: .* has 4 entries"),
    (
        {"compression": ("db", "pcen"), "repeat_channels": 3},
        r"^repeat_channels: 3 only applies when",
    ),
    ({"repeat_channels": 4}, r"^repeat_channels: 4 must be 1 to 3"),
    ({"image_size": (128, 0)}, r"^image_size: \(128, 0\) is not \(H, W\)"),
    ({"n_mels": 1000, "f_max": 200.0}, r"^n_mels: 1000 mel bands between 0.0 and 200.0 Hz leave"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_CONFIGS)
def test_invalid_config_names_the_field_the_value_and_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrontendConfig(**kwargs)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: PcenConfig(smoothing=1.5), r"^pcen.smoothing: 1.5 is outside \(0, 1\)"),
        (lambda: PcenConfig(gain=0.0), r"^pcen.gain: 0.0 is outside \(0, 1\)"),
        (lambda: PcenConfig(bias=-1.0), r"^pcen.bias: -1.0 must be > 0"),
        (lambda: PcenConfig(init="zeros"), r"^pcen.init: unknown init 'zeros'"),
        (lambda: DbConfig(floor=0.0), r"^db.floor: 0.0 must be > 0"),
        (lambda: ExpConfig(a=float("nan")), r"^exp.a: nan is not finite"),
    ],
)
def test_invalid_nested_config(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize(
    ("waveform", "message"),
    [
        (torch.zeros(2, 1, SR), r"^waveform: shape \(2, 1, 22050\) is not \(batch, samples\)"),
        (
            torch.zeros(2, 100),
            r"^waveform: 100 samples \(0.0045 s at 22050 Hz\) is shorter than one FFT frame",
        ),
        (
            torch.zeros(2, SR, dtype=torch.int16),
            r"^waveform: dtype torch.int16 is not floating point",
        ),
        (
            torch.tensor([[0.0] * SR, [float("nan")] * SR]),
            r"^waveform: 1 of 2 clips contain NaN or inf .*\[1\]",
        ),
        (torch.full((1, SR), float("inf")), r"^waveform: 1 of 1 clips contain NaN or inf"),
    ],
)
def test_bad_waveform_is_refused_with_the_fix(waveform, message):
    with pytest.raises(ValueError, match=message):
        build_frontend(FrontendConfig())(waveform)


# ------------------------------------------------------------------------- parameters, state


def test_learnable_parameters_stay_in_range_after_a_huge_step():
    frontend = build_frontend(
        FrontendConfig(compression="pcen", pcen=PcenConfig(per_band=True), n_mels=16)
    )
    optimiser = torch.optim.SGD(frontend.parameters(), lr=1e6)
    frontend(torch.randn(2, SHORT)).square().sum().backward()
    optimiser.step()
    pcen = frontend.compressions["pcen"]
    for name in ("smoothing", "gain", "power"):
        value = getattr(pcen, name)
        assert ((value >= 0) & (value <= 1)).all(), name
    assert (pcen.bias >= 0).all() and (pcen.eps >= 0).all()
    assert torch.isfinite(frontend(torch.randn(2, SHORT))).all()


def test_fixed_parameters_are_buffers_not_parameters():
    cfg = FrontendConfig(
        compression=("pcen", "exp"),
        pcen=PcenConfig(learnable=False),
        exp=ExpConfig(learnable=False),
    )
    frontend = build_frontend(cfg)
    assert list(frontend.parameters()) == []
    assert {"compressions.pcen.smoothing_logit", "compressions.exp.a"} <= set(frontend.state_dict())


def test_state_dict_round_trip():
    cfg = FrontendConfig(
        compression=("db", "pcen", "exp"), pcen=PcenConfig(per_band=True), exp=ExpConfig(per_band=True),
        n_mels=32, image_size=(32, 64),
    )  # fmt: skip
    trained = build_frontend(cfg)
    with torch.no_grad():
        for param in trained.parameters():
            param.add_(torch.randn_like(param) * 0.3)  # as if trained: away from the init
    state = trained.state_dict()
    assert "scale.weights" in state and "spectrogram.window" in state  # fixed matrices are buffers

    fresh = build_frontend(cfg)
    clips = torch.randn(2, SHORT)
    assert not torch.allclose(fresh(clips), trained(clips))
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(clips), trained(clips), rtol=0, atol=0)


# -------------------------------------------------------------------------------- channels


def test_each_channel_is_its_own_compression():
    combined = build_frontend(
        FrontendConfig(compression=("db", "pcen", "exp"), n_mels=32, image_size=(32, 48))
    )
    clips = torch.randn(2, SHORT)
    image = combined(clips)
    assert image.shape == (2, 3, 32, 48)
    for channel, name in enumerate(("db", "pcen", "exp")):
        single = build_frontend(FrontendConfig(compression=name, n_mels=32, image_size=(32, 48)))
        torch.testing.assert_close(image[:, channel : channel + 1], single(clips))
    assert not torch.allclose(image[:, 0], image[:, 1])


def test_repeated_channels_are_equal_independent_copies():
    frontend = build_frontend(FrontendConfig(compression="pcen", repeat_channels=3, n_mels=32))
    image = frontend(torch.randn(2, SHORT))
    assert image.shape[1] == 3 and image.is_contiguous()
    assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 0], image[:, 2])
    image[:, 0].zero_()  # an in-place augmentation on one channel leaves the others alone
    assert image[:, 1].abs().sum() > 0
    assert len(frontend.compressions) == 1  # computed once


def test_normalisation_can_be_switched_off():
    clips = 0.01 * torch.randn(2, SHORT)
    on = build_frontend(FrontendConfig(compression="exp", n_mels=32))(clips)
    off = build_frontend(
        FrontendConfig(compression="exp", n_mels=32, normalize_before=False, normalize_after=False)
    )(clips)
    assert on.amin(dim=(-2, -1)).eq(0).all() and on.amax(dim=(-2, -1)).eq(1).all()
    assert off.amax() < 0.5  # raw quiet magnitudes, no longer stretched to [0, 1]


def test_resize_antialiases_when_shrinking():
    stripes = torch.zeros(1, 1, 8, 512)
    stripes[..., ::2] = 1.0  # the finest possible vertical stripes: mean 0.5
    small = functional.resize(stripes, (8, 100))
    # Antialiased: every output pixel averages many stripes (close to 0.5); plain bilinear would
    # sample just two neighbours, giving values anywhere between 0 and 1.
    assert (small - 0.5).abs().max() < 0.05
    assert functional.resize(stripes, (8, 512)) is stripes
    grown = functional.resize(torch.rand(1, 1, 8, 10), (16, 20))
    assert grown.shape == (1, 1, 16, 20)


# ---------------------------------------------------------------------------------- registry


def test_a_registered_compression_is_usable_by_name():
    @register_compression("square-test")
    class Square(nn.Module):
        @classmethod
        def from_config(cls, cfg, n_bands, dtype=torch.float32):
            return cls()

        def forward(self, spec):
            return spec.square()

    try:
        image = build_frontend(FrontendConfig(compression="square-test", n_mels=16))(
            torch.randn(1, SHORT)
        )
        assert image.shape[:2] == (1, 1)
        with pytest.raises(ValueError, match="already registered"):
            register_compression("square-test")(Square)
    finally:
        del registry._COMPRESSIONS["square-test"]
    with pytest.raises(ValueError, match="unknown compression 'square-test'"):
        FrontendConfig(compression="square-test")


# -------------------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_forward_and_backward():
    cfg = FrontendConfig(
        compression=("db", "pcen", "exp"), pcen=PcenConfig(per_band=True), exp=ExpConfig(per_band=True),
        image_size=(128, 512),
    )  # fmt: skip
    cpu = build_frontend(cfg)
    gpu = build_frontend(cfg).cuda()
    clips = torch.randn(8, 3 * SR)
    image_cpu = cpu(clips)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        image_gpu = gpu(clips.cuda())
    assert image_gpu.device.type == "cuda" and image_gpu.dtype == torch.float32
    torch.testing.assert_close(image_gpu.cpu(), image_cpu, rtol=1e-3, atol=1e-3)
    image_cpu.square().sum().backward()
    image_gpu.square().sum().backward()
    for (name, p_cpu), p_gpu in zip(cpu.named_parameters(), gpu.parameters()):
        torch.testing.assert_close(p_gpu.grad.cpu(), p_cpu.grad, rtol=1e-2, atol=1e-3, msg=name)
