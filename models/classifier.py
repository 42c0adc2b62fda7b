"""The classifier: a frontend (waveform -> image) followed by a timm backbone (image -> logits).

    model = create_classifier(frontend_cfg, ModelConfig("resnet50", pretrained="imagenet"), n_classes=458)
    logits = model(waveform)                      # (batch, samples) -> (batch, n_classes)
    image = model.frontend(waveform)              # (batch, channels, H, W): for augmenting in between
    logits = model.backbone(image)

The backbone's input channels follow the frontend (`FrontendConfig.out_channels`: 1 for one
compression, 3 for a 3-channel combination or `repeat_channels: 3`), and pretrained weights are
adapted to them by timm (summed or repeated first-conv filters).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from models.config import ModelConfig
from models.stem import write_out_input_gradient

_OFFLINE_HINT = (
    "download them once on a machine with internet access, e.g. "
    "`python -c \"import timm, safetensors.torch as st; m = timm.create_model('{name}', "
    "pretrained=True); st.save_file(m.state_dict(), '{name}.safetensors')\"`, copy the file here and "
    "set `model.pretrained: path/to/{name}.safetensors` in the sweep (or set HF_HOME to a cache "
    "that already holds them)"
)


class Classifier(nn.Module):
    """frontend (waveform -> image) then backbone (image -> logits); both trained together."""

    def __init__(self, frontend: nn.Module, backbone: nn.Module):
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform (batch, samples) -> logits (batch, n_classes)."""
        return self.backbone(self.frontend(waveform))


def create_backbone(cfg: ModelConfig, in_chans: int, n_classes: int) -> nn.Module:
    """A timm model by name with `in_chans` input channels and `n_classes` outputs.

    Weights: random ("none"), timm's ImageNet weights for the name ("imagenet"), or a local file.
    A missing file or an unreachable hub is an error, never a quiet fall-back to random weights.
    """
    if n_classes < 1:
        raise ValueError(f"n_classes: {n_classes} must be at least 1")
    kwargs = dict(cfg.kwargs, drop_rate=cfg.drop_rate)
    if cfg.drop_path_rate is not None:
        kwargs["drop_path_rate"] = cfg.drop_path_rate
    common = dict(in_chans=in_chans, num_classes=n_classes, **kwargs)

    if cfg.pretrained == "none":
        return timm.create_model(cfg.name, pretrained=False, **common)

    if cfg.pretrained == "imagenet":
        if not _has_weights(cfg.name):
            raise ValueError(
                f"pretrained: timm has no ImageNet weights for {cfg.name!r}; use a model name with "
                "weights (timm.list_models(pretrained=True)), a local file, or 'none'"
            )
        try:
            return timm.create_model(cfg.name, pretrained=True, **common)
        except OSError as err:  # hub unreachable (LocalEntryNotFoundError, URLError are OSErrors)
            raise ValueError(
                f"pretrained: imagenet: the weights of {cfg.name!r} could not be downloaded "
                f"({type(err).__name__}: {err}); {_OFFLINE_HINT.format(name=cfg.name)}"
            ) from err

    path = Path(cfg.pretrained)
    if not path.is_file():
        raise ValueError(
            f"pretrained: {cfg.pretrained}: no such file (relative paths start at the working "
            f"directory {Path.cwd()}); fix the path, or use 'imagenet' or 'none'"
        )
    # timm's own loader: it reads .safetensors/.pth, adapts the first conv to `in_chans` and drops
    # the classifier when the class count differs from the file's (pretrained_cfg num_classes).
    overlay = dict(file=str(path.resolve()), hf_hub_id=None, url=None)
    try:
        return timm.create_model(
            cfg.name, pretrained=True, pretrained_cfg_overlay=overlay, **common
        )
    # A state dict that does not fit: timm raises RuntimeError (shapes) or KeyError (a missing
    # first-conv key: timm 1.0.15 does).
    except (RuntimeError, KeyError) as err:
        raise ValueError(
            f"pretrained: {cfg.pretrained}: these weights do not fit {cfg.name!r} ({err}); "
            "use a file saved from the same timm model"
        ) from err


def create_classifier(frontend_cfg, model_cfg: ModelConfig, n_classes: int) -> Classifier:
    """Frontend for `frontend_cfg` followed by the backbone of `model_cfg`, `n_classes` logits."""
    from frontends import build_frontend  # the frontends package owns waveform -> image

    frontend = build_frontend(frontend_cfg)
    backbone = create_backbone(model_cfg, frontend_cfg.out_channels, n_classes)
    if any(p.requires_grad for p in frontend.parameters()):  # the image will need a gradient
        write_out_input_gradient(backbone, frontend_cfg.out_channels)
    return Classifier(frontend, backbone)


def _has_weights(name: str) -> bool:
    cfg = timm.models.get_pretrained_cfg(name)
    return cfg is not None and bool(cfg.hf_hub_id or cfg.url or cfg.file)
