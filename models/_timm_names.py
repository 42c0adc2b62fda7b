"""Is this a timm model name? Answered without importing timm (and torch) where possible.

Validating a sweep file (`specsweep plan`) checks `model.name` against timm's registry. Importing
timm costs seconds, so the list of names is kept in a small file per timm version, written the
first time by a child process that imports timm:

    ${XDG_CACHE_HOME:-~/.cache}/specsweep/timm-<version>-models.txt

A process that has imported timm already (a trial) asks timm itself. Where the cache cannot be
written, the names are read from the child every time (correct, only slower).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

_LIST_MODELS = "import timm, sys; sys.stdout.write('\\n'.join(timm.list_models()))"


def arch_name(name: str) -> str:
    """'resnet50.a1_in1k' -> 'resnet50': timm ignores the pretrained tag after the first dot."""
    return name.split(".", 1)[0]


def cache_file(version: str) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "specsweep" / f"timm-{version}-models.txt"


@functools.cache
def model_names() -> frozenset[str]:
    """Every architecture name timm registers (`timm.list_models()`)."""
    if "timm" in sys.modules:
        return frozenset(sys.modules["timm"].list_models())
    version = importlib.metadata.version("timm")
    path = cache_file(version)
    try:
        return frozenset(path.read_text().split())
    except OSError:
        pass
    child = subprocess.run([sys.executable, "-c", _LIST_MODELS], capture_output=True, text=True)
    if child.returncode != 0:  # let the import fail here, with timm's own error
        import timm

        return frozenset(timm.list_models())
    names = frozenset(child.stdout.split())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(sorted(names)) + "\n")
        os.replace(tmp, path)  # atomic: concurrent writers leave one whole file
    except OSError:
        pass
    return names


def is_model(name: str) -> bool:
    """`timm.is_model(name)`, without importing timm once the name list is cached."""
    return arch_name(name) in model_names()
