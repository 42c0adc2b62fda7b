"""ModelConfig: which timm backbone follows the frontend, and where its initial weights come from.

model:
  name: resnet50            # any name `timm.list_models()` knows
  pretrained: imagenet      # none | imagenet | path/to/weights.safetensors (or .pth)
  drop_rate: 0.0
  kwargs: {}                # passed to timm.create_model as they are
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Suffixes of the weight files `pretrained: <path>` accepts (timm's `load_state_dict` reads them).
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")

# create_model arguments that the classifier sets itself; a `kwargs` entry may not override them.
_RESERVED_KWARGS = ("in_chans", "num_classes", "pretrained", "pretrained_cfg_overlay")


@dataclass(frozen=True)
class ModelConfig:
    """A timm backbone by name, with its initial weights.

    name            timm model name (`resnet50`, `efficientnet_b0`, `mobilenetv3_small_050`, ...)
    pretrained      "none": random initialisation; "imagenet": timm's default ImageNet weights
                    for `name` (downloaded from the Hugging Face hub, needs internet once);
                    otherwise the path of a local .safetensors / .pth file, relative to the
                    working directory, loaded through timm's pretrained-config machinery (the
                    first conv is adapted to the frontend's channel count, the classifier is
                    replaced for the sweep's classes).
    drop_rate       dropout before the classifier.
    drop_path_rate  stochastic depth rate; None leaves the model's default (not every model has it).
    kwargs          further `timm.create_model` keyword arguments, e.g. {global_pool: max}.
    """

    name: str = "resnet50"
    pretrained: str = "none"
    drop_rate: float = 0.0
    drop_path_rate: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        _check_name(self.name)
        if self.pretrained not in ("none", "imagenet") and not self.pretrained.endswith(
            WEIGHT_SUFFIXES
        ):
            raise ValueError(
                f"pretrained: {self.pretrained!r} is neither 'none', 'imagenet' nor a weight file; "
                f"give a path ending in {', '.join(WEIGHT_SUFFIXES)}"
            )
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate: {self.drop_rate} must be in [0, 1)")
        if self.drop_path_rate is not None and not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate: {self.drop_path_rate} must be in [0, 1) or null")
        reserved = [k for k in self.kwargs if k in _RESERVED_KWARGS]
        if reserved:
            raise ValueError(
                f"kwargs: {reserved[0]!r} is set by specsweep (from the frontend's channels, the "
                "dataset's classes and `pretrained`); remove it from model.kwargs"
            )


def _check_name(name: str) -> None:
    # Against timm's name list, cached per timm version: importing timm (and torch) takes seconds.
    import difflib

    from models import _timm_names

    if not _timm_names.is_model(name):
        close = difflib.get_close_matches(name, sorted(_timm_names.model_names()), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else " (see timm.list_models())"
        raise ValueError(f"name: {name!r} is not a timm model{hint}")
