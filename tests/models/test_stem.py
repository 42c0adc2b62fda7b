"""The first convolution's written-out input gradient (`models.stem`) against torch's own: the same
gradients for every kernel, stride, padding and odd size, gradcheck in float64, and the module
swap that keeps the parameters, the state dict and the forward values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from frontends import FrontendConfig
from models.classifier import create_backbone, create_classifier
from models.config import ModelConfig
from models.stem import StemConv2d, input_gradient, write_out_input_gradient

SHAPES = [  # (C_in, C_out, kernel, stride, padding, (H, W))
    (1, 16, 3, 2, 1, (64, 256)),  # mobilenetv3's stem at the demo's image
    (1, 8, 7, 2, 3, (37, 50)),  # ResNet's, odd sizes
    (3, 4, 3, 1, 1, (9, 11)),  # stride 1
    (2, 5, 4, 4, 0, (16, 19)),  # a patch embedding; the last columns fall outside every window
    (1, 3, (3, 5), (2, 3), (0, 2), (13, 17)),  # rectangular everything
    (3, 6, 1, 2, 0, (8, 9)),  # 1x1
]


def _pair(v):
    return (v, v) if isinstance(v, int) else v


@pytest.mark.parametrize(("c_in", "c_out", "kernel", "stride", "padding", "size"), SHAPES)
def test_input_gradient_is_torchs(c_in, c_out, kernel, stride, padding, size) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, c_in, *size, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(c_out, c_in, *_pair(kernel), dtype=torch.float64)
    out = F.conv2d(x, weight, None, stride, padding)
    grad = torch.randn_like(out)
    (expected,) = torch.autograd.grad(out, x, grad)
    ours = input_gradient(grad, weight, size, _pair(stride), _pair(padding))
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bias", [False, True])
def test_stem_conv_values_and_gradients(bias) -> None:
    torch.manual_seed(1)
    plain = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=bias).double()
    stem = nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=bias).double()
    stem.load_state_dict(plain.state_dict())
    assert write_out_input_gradient(nn.Sequential(stem), in_chans=2)
    assert type(stem) is StemConv2d and list(stem.state_dict()) == list(plain.state_dict())
    x = torch.randn(2, 2, 9, 12, dtype=torch.float64, requires_grad=True)
    grads = []
    for conv in (plain, stem):
        out = conv(x)
        weights = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        grads.append(torch.autograd.grad((out * weights).sum(), [x, *conv.parameters()]))
    for ours, expected in zip(grads[1], grads[0]):
        torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda x, w: stem._conv_forward(x, w, stem.bias), (x, stem.weight)
    )
    with torch.no_grad():  # inference: the plain convolution, bit for bit
        assert torch.equal(stem(x), plain(x))


def test_only_the_image_reading_conv_of_a_learning_frontend_is_swapped() -> None:
    model = ModelConfig("mobilenetv3_small_050", pretrained="none")
    learned = create_classifier(FrontendConfig(compression="pcen"), model, 5)
    fixed = create_classifier(FrontendConfig(compression="db"), model, 5)
    assert type(learned.backbone.conv_stem) is StemConv2d
    assert type(fixed.backbone.conv_stem) is nn.Conv2d  # its image needs no gradient
    assert sum(type(m) is StemConv2d for m in learned.modules()) == 1
    assert list(learned.backbone.state_dict()) == list(fixed.backbone.state_dict())
    wide = create_backbone(model, in_chans=8, n_classes=5)  # more channels than measured
    assert not write_out_input_gradient(wide, in_chans=8)
    resnet = create_backbone(ModelConfig("resnet18", pretrained="none"), in_chans=1, n_classes=5)
    assert write_out_input_gradient(resnet, in_chans=1) and type(resnet.conv1) is StemConv2d


def test_a_learning_frontend_trains_the_same_with_the_swap() -> None:
    """One SGD step of a PCEN classifier: the same loss, and the same updated parameters as with
    torch's convolution backward (to float32 rounding)."""
    model_cfg = ModelConfig("mobilenetv3_small_050", pretrained="none")
    torch.manual_seed(2)
    ours = create_classifier(FrontendConfig(compression="pcen", image_size=(32, 64)), model_cfg, 3)
    reference = create_classifier(FrontendConfig(compression="db"), model_cfg, 3)
    reference.frontend = ours.frontend.__class__(ours.frontend.cfg)
    reference.load_state_dict(ours.state_dict())
    reference.backbone.conv_stem.__class__ = nn.Conv2d
    wave, target = torch.randn(4, 22050), torch.tensor([0, 1, 2, 1])
    for model in (ours, reference):
        model.train()
        loss = F.cross_entropy(model(wave), target)
        loss.backward()
    for (name, p), q in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
