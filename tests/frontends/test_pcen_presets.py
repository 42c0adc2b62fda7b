"""`frontend.pcen.preset`: named published PCEN parameter sets, swept like any grid value; explicit
values override the preset's; the saved (resolved) config holds the values a trial used."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from frontends import FrontendConfig, PcenConfig, build_frontend
from frontends.pcen_presets import PCEN_PRESETS
from runner.cli import main
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.sweep.spec import TrialConfig


def _values(cfg: PcenConfig) -> dict[str, float]:
    return {name: getattr(cfg, name) for name in ("smoothing", "gain", "bias", "power", "eps")}


@pytest.mark.parametrize("preset", sorted(PCEN_PRESETS))
def test_each_preset_sets_its_values_and_the_module_starts_from_them(preset):
    cfg = FrontendConfig(compression="pcen", n_mels=16, pcen=PcenConfig(preset=preset))
    table = PCEN_PRESETS[preset]
    for name in ("gain", "bias", "power", "eps"):
        assert getattr(cfg.pcen, name) == table[name]
    if "smoothing" in table:
        assert cfg.pcen.smoothing == table["smoothing"]
    module = build_frontend(cfg).compressions["pcen"]
    for name, value in _values(cfg.pcen).items():
        assert math.isclose(float(getattr(module, name).detach()), value, rel_tol=1e-5)


def test_a_time_constant_becomes_librosas_per_frame_smoothing_at_the_configs_hop():
    # librosa.pcen: b = (sqrt(1 + 4 T^2) - 1) / (2 T^2), T = time_constant * sr / hop (frames).
    for hop in (128, 256):
        cfg = FrontendConfig(compression="pcen", hop_length=hop, pcen=PcenConfig(preset="librosa"))
        frames = 0.4 * 22050 / hop
        expected = (math.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)
        assert math.isclose(cfg.pcen.smoothing, expected, rel_tol=1e-12)


def test_explicit_values_override_the_preset():
    cfg = FrontendConfig(pcen=PcenConfig(preset="birdvox", gain=0.5, smoothing=0.2))
    assert (cfg.pcen.gain, cfg.pcen.smoothing) == (0.5, 0.2)
    assert (cfg.pcen.bias, cfg.pcen.power) == (10.0, 0.25)  # still the preset's
    assert PcenConfig() == PcenConfig(preset=None, smoothing=0.025, gain=0.98, bias=2.0, power=0.5)


def _sweep(tmp_path: Path, pcen: dict, grid: dict) -> Path:
    path = tmp_path / "presets.yaml"
    doc = {
        "name": "presets",
        "data": {"kind": "synthetic", "clip_s": 1.0},
        "frontend": {"compression": "pcen", "n_mels": 32, "pcen": pcen},
        "model": {"name": "resnet18", "pretrained": "none"},
        "grid": grid,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_grid_sweeps_presets_and_the_saved_config_holds_the_resolved_values(tmp_path):
    path = _sweep(
        tmp_path,
        {"gain": 0.9},
        {"axes": {"frontend.pcen.preset": ["leaf", "perch", "librosa", "birdvox"]}},
    )
    specs = expand(load_sweep(path))
    assert [s.name for s in specs] == ["leaf", "perch", "librosa", "birdvox"]
    for spec in specs:
        pcen = spec.config.frontend.pcen
        assert pcen.gain == 0.9  # the file's explicit value, over every preset's
        saved = spec.config.to_dict()["frontend"]["pcen"]
        assert saved["preset"] == spec.name and saved["smoothing"] == pcen.smoothing
        assert all(isinstance(saved[name], float) for name in _values(pcen))
        assert TrialConfig.from_dict(spec.config.to_dict()) == spec.config  # reproducible
    smoothing = {s.name: s.config.frontend.pcen.smoothing for s in specs}
    assert smoothing["leaf"] == 0.04 and smoothing["perch"] == 0.1


def test_an_unknown_preset_is_one_line_naming_the_key_and_the_valid_names(tmp_path, capsys):
    path = _sweep(tmp_path, {"preset": "lief"}, {"axes": {"frontend.pcen.init": ["loop"]}})
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "presets.yaml: frontend.pcen.preset: unknown preset 'lief'; use one of" in err
    for name in PCEN_PRESETS:
        assert repr(name) in err
