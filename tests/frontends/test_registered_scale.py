"""A scale registered with `register_scale` is usable by name, in Python and in a sweep file,
exactly as a registered compression is; an unknown scale name is refused with the known ones."""

from __future__ import annotations

import pytest
import torch
import yaml

from frontends import FrontendConfig, build_frontend, functional, list_scales, register_scale
from frontends import _registry as registry
from frontends.parameters import band_frequencies_hz
from frontends.scales import FilterBank
from runner.cli import main
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep


@pytest.fixture
def htk_mel():
    """A mel scale with the HTK formula whatever `mel_scale` says, registered as 'htk-mel-test'."""

    @register_scale("htk-mel-test")
    class HtkMel(FilterBank):
        @staticmethod
        def make_weights(cfg, n_fft):
            return functional.mel_filterbank(
                cfg.sample_rate, n_fft, cfg.n_mels, cfg.f_min, cfg.f_max, "htk", cfg.mel_norm
            )

    try:
        yield HtkMel
    finally:
        del registry._SCALES["htk-mel-test"]


def test_a_registered_scale_is_usable_by_name(htk_mel):
    assert "htk-mel-test" in list_scales()
    cfg = FrontendConfig(scale="htk-mel-test", n_mels=24, compression="pcen")
    frontend = build_frontend(cfg)
    assert isinstance(frontend.scale, htk_mel)
    reference = build_frontend(FrontendConfig(scale="mel", mel_scale="htk", n_mels=24))
    torch.testing.assert_close(frontend.scale.weights, reference.scale.weights)
    image = frontend(0.1 * torch.randn(2, 22050))
    assert image.shape[:3] == (2, 1, 24) and torch.isfinite(image).all()
    assert len(band_frequencies_hz(frontend)) == 24
    # Its own empty-band count decides n_fft, as the built-in scales' does.
    assert FrontendConfig(scale="htk-mel-test", n_mels=128, win_length=256).resolved().n_fft > 256


def test_a_sweep_file_names_a_registered_scale_like_a_registered_compression(htk_mel, tmp_path):
    path = tmp_path / "scales.yaml"
    doc = {
        "name": "scales",
        "data": {"kind": "synthetic", "clip_s": 1.0},
        "frontend": {"n_mels": 32},
        "model": {"name": "resnet18", "pretrained": "none"},
        "grid": {"axes": {"frontend.scale": ["mel", "htk-mel-test"]}},
    }
    path.write_text(yaml.safe_dump(doc))
    specs = expand(load_sweep(path))
    assert [s.config.frontend.scale for s in specs] == ["mel", "htk-mel-test"]
    assert main(["plan", str(path)]) == 0


def test_an_unknown_scale_names_the_registered_ones(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"^scale: unknown scale 'bark'; use one of \['erb', "):
        FrontendConfig(scale="bark")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "frontend": {"scale": "bark"}}))
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown scale 'bark'" in err
