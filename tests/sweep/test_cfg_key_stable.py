"""cfg_key identifies a configuration across versions: a sweep started before a change and resumed
after it must find its points under the same keys. The keys below were computed with the code
before `frontend.pcen.preset` existed; a new config field with a default must keep them."""

from __future__ import annotations

import pytest

from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.sweep.spec import TrialConfig

# name -> cfg_key of the first seed's configurations, from the code before PCEN presets.
DEMO_KEYS = {
    "w256-h64-linear-64x512": "e325c8f6d4fd",
    "w256-h64-mel-64x512": "1c2dfc0ec481",
    "w512-h128-mel-48x256": "2f081460e702",
}
DEMO_FRONTENDS_KEYS = {
    "db": "e2d14ada53a1",
    "exp": "64e0062b88b2",
    "pcen": "6dc742f60b6b",
    "pcen-perband": "242f5cc98377",
    "db+pcen+exp": "0c96d6fdb294",
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [("sweeps/demo.yaml", DEMO_KEYS), ("sweeps/demo_frontends.yaml", DEMO_FRONTENDS_KEYS)],
)
def test_demo_keys_unchanged(path: str, expected: dict[str, str]) -> None:
    specs = expand(load_sweep(path))
    keys = {s.name: s.cfg_key for s in specs if s.seed == specs[0].seed}
    assert {name: keys[name] for name in expected} == expected


def test_preset_is_not_in_the_key_but_is_recorded() -> None:
    spec = expand(load_sweep("sweeps/demo_frontends.yaml"))[2]  # pcen
    plain = spec.config.to_dict()
    named = TrialConfig.from_dict(
        {
            **plain,
            "frontend": {
                **plain["frontend"],
                "pcen": {**plain["frontend"]["pcen"], "preset": "default"},
            },
        }
    )
    assert named.to_dict()["frontend"]["pcen"]["preset"] == "default"  # config.yaml names it
    assert named.cfg_key == spec.cfg_key  # the same five values: the same configuration
    other = TrialConfig.from_dict(
        {**plain, "frontend": {**plain["frontend"], "pcen": {"init": "loop", "preset": "leaf"}}}
    )
    assert other.cfg_key != spec.cfg_key
    assert other.frontend.pcen.smoothing == pytest.approx(0.04)
