"""The wheels `make gpu-check` needs on a GPU machine without internet: `make device-wheels`.

    .venv/bin/python benchmarks/device_wheels.py             # download into .whl/, write the list
    .venv/bin/python benchmarks/device_wheels.py --list      # only print what it would download

The GPU machines run an image with Python 3.12 and torch, torchvision, timm, numpy, pandas, scipy,
matplotlib, pyarrow, scikit-learn, psutil, rich, pyyaml, onnx and onnxruntime (`IMAGE`), but not
MLflow, Optuna, soxr or soundfile. The wheels are the distributions the check imports (the
project's dependencies, and pytest for its CUDA tests: `ROOTS`) with everything they require,
less what the image already has with everything *it* requires, at the versions of
requirements.lock, for CPython 3.12 on manylinux x86_64. The requirement graph is read from this
environment's installed metadata (`make install` puts the lock's versions here), with the
markers evaluated for Python 3.12 on Linux, so the list needs no network; only the download does
(`pip download --no-deps`, one wheel per distribution, binary only).

Writes `.whl/wheels.txt` (`name==version file` per line), removes wheels no longer listed, and
fails when the wheels pass `--max-mib` (60: what is copied to a device may total 64 MiB with
the project).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LIST_FILE = "wheels.txt"

# On the GPU machines' image already (with what each requires).
IMAGE = (
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "pyarrow",
    "scikit-learn",
    "psutil",
    "rich",
    "pyyaml",
    "onnx",
    "onnxruntime",
)
# What onnx and onnxruntime require (not installed here, so not in this environment's metadata).
IMAGE_EXTRA = ("protobuf", "flatbuffers", "coloredlogs", "humanfriendly", "sympy", "packaging")
# Besides the project's dependencies: the CUDA tests' runner (gpu-check step 1).
CHECK_EXTRA = ("pytest", "pytest-timeout")
# Where the wheels run: Python 3.12 on Linux x86_64 (markers and `pip download` tags).
TARGET_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")


def project_dependencies() -> list[str]:
    """The names in pyproject.toml's `dependencies`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r).name for r in project["dependencies"]]


def roots() -> list[str]:
    """The distributions the device check imports directly."""
    return [*project_dependencies(), *CHECK_EXTRA]


def _requires(name: str, extras: set[str]) -> list[tuple[str, set[str]]]:
    """What the installed distribution `name` requires on the target (with `extras` asked)."""
    dist = metadata.distribution(name)
    found = []
    for text in dist.requires or []:
        req = Requirement(text)
        wanted = extras or {""}
        if req.marker is None or any(
            req.marker.evaluate({**TARGET_ENV, "extra": e}) for e in wanted
        ):
            found.append((canonicalize_name(req.name), set(req.extras)))
    return found


def closure(names) -> set[str]:
    """`names` and everything they require on the target, transitively (canonical names). A
    distribution not installed here is a LookupError: `make install` first."""
    extras: dict[str, set[str]] = {}
    todo = [(canonicalize_name(n), set()) for n in names]
    while todo:
        name, wanted = todo.pop()
        if name in extras and wanted <= extras[name]:
            continue
        extras.setdefault(name, set()).update(wanted)
        try:
            todo.extend(_requires(name, extras[name]))
        except metadata.PackageNotFoundError:
            raise LookupError(f"{name} is not installed here; run `make install` first") from None
    return set(extras)


def image_closure() -> set[str]:
    installed = [n for n in IMAGE if _installed(n)]
    return closure(installed) | {canonicalize_name(n) for n in (*IMAGE, *IMAGE_EXTRA)}


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def read_lock(path: Path = ROOT / "requirements.lock") -> dict[str, str]:
    """requirements.lock's pins: canonical name -> version."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def needed(lock: dict[str, str] | None = None) -> dict[str, str]:
    """The distributions to ship, pinned: name -> version (sorted by name)."""
    lock = read_lock() if lock is None else lock
    names = sorted(closure(roots()) - image_closure())
    missing = [n for n in names if n not in lock]
    if missing:
        raise LookupError(f"requirements.lock has no pin for {', '.join(missing)}; run `make lock`")
    return {n: lock[n] for n in names}


def download(pins: dict[str, str], dest: Path) -> dict[str, Path]:
    """One `pip download --no-deps` per distribution (binary only, CPython 3.12 manylinux x86_64);
    the wheel file of each."""
    dest.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, version in pins.items():
        before = set(dest.glob("*.whl"))
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--no-deps",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--abi",
            "cp312",
            "--abi",
            "abi3",
            "--abi",
            "none",
            *(a for p in PLATFORMS for a in ("--platform", p)),
            "--dest",
            str(dest),
            f"{name}=={version}",
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"device-wheels: {name}=={version}: pip download failed: {tail}")
        new = set(dest.glob("*.whl")) - before
        files[name] = new.pop() if new else _existing(dest, name, version)
    return files


def _existing(dest: Path, name: str, version: str) -> Path:
    """The wheel of name==version already in `dest` (pip downloads nothing it has)."""
    for path in dest.glob("*.whl"):
        dist, wheel_version = path.name.split("-")[:2]
        if canonicalize_name(dist) == name and wheel_version == version:
            return path
    raise SystemExit(f"device-wheels: no wheel of {name}=={version} in {dest}")


def read_list(dest: Path) -> dict[str, tuple[str, str]]:
    """`dest/wheels.txt`: name -> (version, wheel file name)."""
    found = {}
    for line in (dest / LIST_FILE).read_text().splitlines():
        pin, file = line.split()
        name, version = pin.split("==")
        found[name] = (version, file)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    parser.add_argument("--max-mib", type=float, default=60.0)
    parser.add_argument("--list", action="store_true", help="print the pins, download nothing")
    args = parser.parse_args(argv)
    try:
        pins = needed()
    except LookupError as err:
        print(f"device-wheels: {err}", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(f"{n}=={v}" for n, v in pins.items()))
        return 0
    files = download(pins, args.dest)
    for stale in set(args.dest.glob("*.whl")) - set(files.values()):
        stale.unlink()
    lines = [f"{n}=={pins[n]} {files[n].name}" for n in pins]
    (args.dest / LIST_FILE).write_text("\n".join(lines) + "\n")
    total = sum(f.stat().st_size for f in files.values()) / 2**20
    for path in sorted(files.values()):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    print(f"device-wheels: {len(files)} wheels, {total:.1f} MiB in {args.dest} (list: {LIST_FILE})")
    if total > args.max_mib:
        print(
            f"device-wheels: {total:.1f} MiB is over the {args.max_mib:.0f} MiB limit",
            file=sys.stderr,
        )
        return 1
    print(
        "Copy the repository with this folder to the GPU machine (it is git-ignored: name it, "
        "e.g. rsync -a --exclude .venv ./ host:specsweep/), then run `make gpu-check` there."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
