"""The install: no torchaudio at run time, the lock inside the declared ranges, and the installed
environment (the one `env.json` records) equal to the lock.

It checks the project as installed, not one package, so it sits at the top of tests/ rather than
in a folder that mirrors one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RANGED = ("torch", "torchvision", "timm", "optuna", "mlflow", "numpy", "soxr")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonical(name)] = version
    return pins


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonical(Requirement(r).name): Requirement(r) for r in project["dependencies"]}


def public(version: str) -> Version:
    """`2.13.0+cpu` -> 2.13.0: a local build label is not part of the release."""
    return Version(Version(version).public)


def test_no_package_imports_torchaudio():
    """Every package imports with torchaudio refused outright (as if it were not installed)."""
    code = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchaudio" or name.startswith("torchaudio."):
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)")
sys.meta_path.insert(0, Refuse())
import runner, frontends, models, reports
import runner.data.cache, runner.train.trial, runner.tracking.trial_runs, runner.cli
from runner.tracking.trial_runs import environment
assert "soxr" in environment("cpu")["versions"]
assert not any(m.split(".")[0] == "torchaudio" for m in sys.modules)
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_torchaudio_is_not_a_dependency():
    names = set(declared())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in project["optional-dependencies"].values():
        names |= {canonical(Requirement(r).name) for r in extra}
    assert "torchaudio" not in names
    assert "torchaudio" not in locked_versions()


def test_every_range_is_bounded_and_holds_the_lock():
    """`>=oldest,<next-major` for the libraries the suite is tested at both ends of, and the lock
    (the set the suite passed on) inside every declared range."""
    pins = locked_versions()
    for name, req in declared().items():
        if name in RANGED:
            ops = {s.operator for s in req.specifier}
            assert ops == {">=", "<"}, f"{req}: want >=oldest,<next-major"
        assert name in pins, f"{name} is a dependency but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject's {req}"
        )


@pytest.mark.skipif(
    os.environ.get("SPECSWEEP_UNLOCKED") == "1", reason="make test-latest: no lock on purpose"
)
def test_the_installed_environment_is_the_lock():
    """After `make install` every locked package that is installed has the locked version, and
    the versions a trial's env.json records are those."""
    from runner.tracking.trial_runs import environment

    pins = locked_versions()
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {
        name: (installed[name], version)
        for name, version in pins.items()
        if name in installed and public(installed[name]) != public(version)
    }
    assert not wrong, f"installed != requirements.lock (installed, locked): {wrong}"
    recorded = environment("cpu")["versions"]
    for name in ("torch", "torchvision", "timm", "optuna", "mlflow", "numpy", "soxr"):
        assert public(recorded[name]) == public(pins[name]), name
