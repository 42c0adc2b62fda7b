"""Sweep files: validation errors (file, key path, value, fix; exit 2) and grid expansion."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers.merlin import MERLIN_PART1_KEYS, merlin_part1_grid

from runner.cli import main
from runner.errors import ConfigError
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.sweep.spec import TrialConfig

ROOT = Path(__file__).resolve().parents[2]

BASE = """
name: t
data: {kind: synthetic, clip_s: 3.0}
frontend: {sample_rate: 22050, win_length: 512, hop_length: 128, scale: mel, image_size: [128, 512]}
grid:
  axes:
    frontend.win_length: [256, 512]
    frontend.hop_length: [64, 128]
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_sweep(path)
    message = str(info.value)
    assert message.startswith(str(path)), message  # every error names the file
    return message


# --------------------------------------------------------------------------- the Merlin study's grid


# (window, hop, scale, image size): the Merlin study's 12 configurations
MERLIN_PART1 = {tuple(cfg[k] for k in MERLIN_PART1_KEYS) for cfg in merlin_part1_grid()}


def test_merlin_part1_expands_to_the_seeds_twelve_configurations():
    sweep = load_sweep(ROOT / "sweeps/merlin_part1.yaml")
    specs = expand(sweep)
    got = {
        (
            s.config.frontend.win_length,
            s.config.frontend.hop_length,
            s.config.frontend.scale,
            s.config.frontend.image_size,
        )
        for s in specs
    }
    assert got == MERLIN_PART1
    assert len(specs) == 12 and len({s.cfg_key for s in specs}) == 12
    assert len({s.name for s in specs}) == 12
    assert "w512-h128-mel-128x512" in {s.name for s in specs}
    for s in specs:  # the Merlin study's recipe, written out in the file
        assert s.config.frontend.sample_rate == 22050
        assert s.config.data.clip_s == 3.0
        assert s.config.model.name == "resnet50"
        assert s.config.model.pretrained == "imagenet"
        assert s.config.train.epochs == 90
        assert s.config.train.lr == 0.1


def test_plan_lists_the_twelve_configurations(capsys):
    assert main(["plan", str(ROOT / "sweeps/merlin_part1.yaml")]) == 0
    out = capsys.readouterr().out
    assert "12 configurations x 1 seed = 12 trials" in out
    assert out.count("-128x1024") == 4 and out.count("-96x512") == 4
    assert main(["plan", str(ROOT / "sweeps/merlin_part1.yaml"), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 12
    assert {r["swept"]["frontend.image_size"][0] for r in records} == {96, 128}


def test_plan_show_prints_a_resolved_config(capsys):
    assert (
        main(["plan", str(ROOT / "sweeps/merlin_part1.yaml"), "--show", "w256-h64-mel-128x1024"])
        == 0
    )
    out = capsys.readouterr().out
    assert "win_length: 256" in out and "hop_length: 64" in out
    assert "n_fft:" in out and "n_fft: null" not in out  # the padded n_fft is recorded


# --------------------------------------------------------------------------- grid semantics


def test_cfg_key_is_stable_under_key_order_and_independent_of_seed(tmp_path):
    a = write(tmp_path, BASE + "seeds: [0, 1]\n", "a.yaml")
    reordered = """
    grid:
      axes:
        frontend.hop_length: [64, 128]
        frontend.win_length: [256, 512]
    frontend: {image_size: [128, 512], scale: mel, hop_length: 128, win_length: 512, sample_rate: 22050}
    data: {clip_s: 3.0, kind: synthetic}
    name: t
    seeds: [5]
    """
    b = write(tmp_path, reordered, "b.yaml")
    specs_a, specs_b = expand(load_sweep(a)), expand(load_sweep(b))
    assert len(specs_a) == 8 and len(specs_b) == 4
    keys_a = {
        (s.config.frontend.win_length, s.config.frontend.hop_length): s.cfg_key for s in specs_a
    }
    keys_b = {
        (s.config.frontend.win_length, s.config.frontend.hop_length): s.cfg_key for s in specs_b
    }
    assert keys_a == keys_b
    # seeds are the outer loop: every configuration once before any replicate
    assert [s.seed for s in specs_a] == [0] * 4 + [1] * 4
    assert [s.index for s in specs_a] == list(range(8))


def test_cfg_key_round_trips_through_the_config_dict(tmp_path):
    spec = expand(load_sweep(write(tmp_path, BASE)))[0]
    again = TrialConfig.from_dict(json.loads(json.dumps(spec.config.to_dict())))
    assert again == spec.config and again.cfg_key == spec.cfg_key


def test_zip_linked_and_exclude(tmp_path):
    path = write(
        tmp_path,
        """
        name: t
        frontend: {image_size: [64, 256]}
        grid:
          axes:
            frontend.scale: [linear, mel]
          zip:
            - {frontend.win_length: [256, 512], frontend.hop_length: [64, 128]}
          linked:
            data.clip_s:
              by: frontend.win_length
              values: {256: [2.0, 3.0], 512: [3.0]}
          exclude:
            - {frontend.scale: linear, data.clip_s: 2.0}
        """,
    )
    specs = expand(load_sweep(path))
    got = sorted(
        (
            s.config.frontend.scale,
            s.config.frontend.win_length,
            s.config.frontend.hop_length,
            s.config.data.clip_s,
        )
        for s in specs
    )
    assert got == sorted(
        [
            ("linear", 256, 64, 3.0),
            ("linear", 512, 128, 3.0),
            ("mel", 256, 64, 2.0),
            ("mel", 256, 64, 3.0),
            ("mel", 512, 128, 3.0),
        ]
    )
    assert {s.name for s in specs} >= {"mel-w256-h64-c2s", "linear-w512-h128-c3s"}


def test_sweeping_a_nested_key(tmp_path):
    path = write(
        tmp_path,
        """
        name: t
        frontend: {compression: pcen}
        grid:
          axes:
            frontend.pcen.per_band: [false, true]
        """,
    )
    specs = expand(load_sweep(path))
    assert [s.config.frontend.pcen.per_band for s in specs] == [False, True]
    assert [s.name for s in specs] == ["noperband", "perband"]


def test_seed_count_means_range(tmp_path):
    sweep = load_sweep(write(tmp_path, BASE + "seeds: 3\n"))
    assert sweep.seeds == (0, 1, 2)
    assert len(expand(sweep)) == 12


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown key, with the closest valid one suggested
        (
            "name: t\nfrontend: {hop_lenght: 128}\n",
            ["frontend.hop_lenght", "unknown key", "did you mean 'hop_length'"],
        ),
        (
            "name: t\nfrontend: {pcen: {smothing: 0.02}}\n",
            ["frontend.pcen.smothing", "did you mean 'smoothing'"],
        ),
        ("name: t\nfrontnd: {}\n", ["frontnd", "unknown section", "did you mean 'frontend'"]),
        # wrong type
        (
            "name: t\nfrontend: {hop_length: '128a'}\n",
            ["frontend.hop_length", "expected an integer", "'128a'"],
        ),
        ("name: t\nfrontend: {center: 'yes'}\n", ["frontend.center", "true or false"]),
        ("name: t\nfrontend: {scale: meel}\n", ["frontend.scale", "'meel'", "did you mean 'mel'"]),
        # missing required key
        ("frontend: {}\n", ["name", "missing required key"]),
        # empty axis, axis naming a missing key, a non-list axis
        (
            "name: t\ngrid: {axes: {frontend.hop_length: []}}\n",
            ["grid.axes.frontend.hop_length", "empty"],
        ),
        (
            "name: t\ngrid: {axes: {frontend.hop_lenght: [64]}}\n",
            ["frontend.hop_lenght", "did you mean 'frontend.hop_length'"],
        ),
        ("name: t\ngrid: {axes: {tracking.uri: [a]}}\n", ["tracking.uri", "cannot be swept"]),
        (
            "name: t\ngrid: {axes: {frontend.hop_length: 64}}\n",
            ["grid.axes.frontend.hop_length", "expected a list", "[64]"],
        ),
        # hop longer than window, n_fft shorter than window: the point is named
        ("name: t\nfrontend: {win_length: 256, hop_length: 512}\n", ["frontend.hop_length", "512"]),
        (
            "name: t\nfrontend: {win_length: 256, hop_length: 64}\ngrid: {axes: {frontend.hop_length: [128, 512]}}\n",
            ["grid point h512", "frontend.hop_length", "512"],
        ),
        ("name: t\nfrontend: {win_length: 512, n_fft: 256}\n", ["frontend.n_fft", "256"]),
        # non-positive sizes, sample rate, clip length
        ("name: t\nfrontend: {sample_rate: 0}\n", ["frontend.sample_rate", "0"]),
        ("name: t\nfrontend: {win_length: -512}\n", ["frontend.win_length", "-512"]),
        ("name: t\nfrontend: {image_size: [0, 512]}\n", ["frontend.image_size"]),
        ("name: t\ndata: {clip_s: 0}\n", ["data.clip_s", "0"]),
        ("name: t\nseeds: 0\n", ["seeds"]),
        # a linked axis with no match, and one with a value that matches nothing
        (
            "name: t\ngrid:\n  axes: {frontend.hop_length: [64, 128]}\n  linked:\n    frontend.image_size:\n"
            "      by: frontend.hop_length\n      values: {128: [[128, 512]]}\n",
            [
                "grid.linked.frontend.image_size.values",
                "no entry for frontend.hop_length = 64",
                "add '64: [...]'",
            ],
        ),
        (
            "name: t\ngrid:\n  axes: {frontend.hop_length: [128]}\n  linked:\n    frontend.image_size:\n"
            "      by: frontend.hop_length\n      values: {128: [[128, 512]], 32: [[1, 1]]}\n",
            ["32 matches no value of frontend.hop_length"],
        ),
        (
            "name: t\ngrid:\n  axes: {frontend.hop_length: [128]}\n  linked:\n    frontend.image_size:\n"
            "      by: frontend.hop_lenght\n      values: {128: [[128, 512]]}\n",
            ["grid.linked.frontend.image_size.by", "did you mean 'frontend.hop_length'"],
        ),
        # a grid that expands to zero trials
        (
            "name: t\ngrid:\n  axes: {frontend.hop_length: [64]}\n  exclude: [{frontend.hop_length: 64}]\n",
            ["zero trials"],
        ),
        (
            "name: t\ngrid:\n  exclude: [{frontend.hop_length: 64}]\n",
            ["grid.exclude[0].frontend.hop_length", "not a swept key"],
        ),
        # a sweep name that cannot name an experiment
        ("name: 'my sweep!'\n", ["name", "not a valid sweep name"]),
    ],
)
def test_bad_sweep_files_name_the_key_value_and_fix(tmp_path, text, expected):
    message = error_of(write(tmp_path, text))
    for part in expected:
        assert part in message, f"{part!r} not in: {message}"


def test_yaml_that_does_not_parse_gives_line_and_column(tmp_path):
    path = write(tmp_path, "name: t\nfrontend:\n  hop_length: [64, 128\n  win_length: 512\n")
    message = error_of(path)
    assert "line 4, column" in message and "does not parse" in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such sweep file"):
        load_sweep(tmp_path / "nope.yaml")


def test_cli_turns_user_errors_into_exit_2_without_traceback(tmp_path, capsys):
    path = write(tmp_path, "name: t\nfrontend: {hop_lenght: 128}\n")
    assert main(["plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("specsweep: error: ") and "Traceback" not in err
    assert "did you mean 'hop_length'" in err
