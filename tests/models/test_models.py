"""models/: the timm backbone by name, its channels, and where its weights come from."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
import safetensors.torch
import timm
import torch

from frontends import FrontendConfig
from models.classifier import create_backbone, create_classifier
from models.config import ModelConfig


def test_classifier_is_frontend_then_backbone():
    frontend = FrontendConfig(win_length=512, hop_length=256, n_mels=32, image_size=(32, 64),
                              compression="db", repeat_channels=3)  # fmt: skip
    model = create_classifier(frontend, ModelConfig("mobilenetv3_small_050"), n_classes=5)
    waveform = torch.randn(2, 22050)
    image = model.frontend(waveform)
    assert image.shape == (2, 3, 32, 64)
    logits = model(waveform)
    assert logits.shape == (2, 5)
    assert torch.allclose(logits, model.backbone(image), atol=1e-5)
    logits.sum().backward()  # trains end to end


def test_any_timm_name_and_kwargs():
    cfg = ModelConfig("resnet18", drop_rate=0.2, kwargs={"channels": (8, 16, 32, 64)})
    model = create_backbone(cfg, in_chans=1, n_classes=3)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 3
    assert model.layer4[0].conv1.out_channels == 64 and model.drop_rate == 0.2


def test_config_checks_name_weights_and_reserved_kwargs():
    with pytest.raises(
        ValueError, match="name: 'resnet5' is not a timm model; did you mean 'resnet50'"
    ):
        ModelConfig("resnet5")
    with pytest.raises(ValueError, match=r"pretrained: 'weights\.txt' is neither"):
        ModelConfig(pretrained="weights.txt")
    with pytest.raises(ValueError, match="kwargs: 'in_chans' is set by specsweep"):
        ModelConfig(kwargs={"in_chans": 3})


@pytest.fixture(scope="module")
def donor():
    """A 3-channel, 1000-class model whose weights the tests save and load elsewhere."""
    torch.manual_seed(0)
    return timm.create_model("test_resnet", num_classes=1000, in_chans=3)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_load_with_channel_adaptation(tmp_path, donor, suffix):
    path = tmp_path / f"donor{suffix}"
    state = donor.state_dict()
    if suffix == ".safetensors":
        safetensors.torch.save_file(state, path)
    else:
        torch.save(state, path)
    model = create_backbone(
        ModelConfig("test_resnet", pretrained=str(path)), in_chans=1, n_classes=4
    )
    loaded = model.state_dict()
    # The body is the donor's; the 3-channel stem is summed into 1 channel (timm's adapt_input_conv);
    # the 1000-class head is replaced by a fresh 4-class one.
    key = "layer1.0.conv1.weight"
    assert torch.equal(loaded[key], state[key])
    assert torch.allclose(loaded["conv1.0.weight"], state["conv1.0.weight"].sum(1, keepdim=True))
    assert loaded["fc.weight"].shape == (4, state["fc.weight"].shape[1])
    # And it stays 3 channels when the frontend gives 3.
    model3 = create_backbone(
        ModelConfig("test_resnet", pretrained=str(path)), in_chans=3, n_classes=4
    )
    assert torch.equal(model3.state_dict()["conv1.0.weight"], state["conv1.0.weight"])


def test_weight_file_errors(tmp_path, donor):
    with pytest.raises(ValueError, match="no such file"):
        create_backbone(ModelConfig("test_resnet", pretrained=str(tmp_path / "x.pth")), 1, 4)
    path = tmp_path / "other.pth"
    torch.save(timm.create_model("mobilenetv3_small_050").state_dict(), path)
    with pytest.raises(ValueError, match="do not fit 'test_resnet'"):
        create_backbone(ModelConfig("test_resnet", pretrained=str(path)), 1, 4)


def test_imagenet_offline_is_an_error_that_says_how_to_use_a_local_file(tmp_path, monkeypatch):
    """No internet: never a silent switch to random weights."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ValueError) as info:
        create_backbone(ModelConfig("test_resnet", pretrained="imagenet"), 1, 4)
    message = str(info.value)
    assert (
        "could not be downloaded" in message
        and "model.pretrained: path/to/test_resnet.safetensors" in message
    )
