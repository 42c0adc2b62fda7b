"""A stand-in `nvidia-smi` for the tests of the GPU paths on machines without a GPU.

    bin_dir = fake_nvidia_smi(tmp_path, gpus=2)                 # two H100s
    bin_dir = fake_nvidia_smi(tmp_path, gpus=1, mig_slices=2)   # one A100 in MIG mode, 2 slices
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

It answers `nvidia-smi -L` the way the real one prints (GPU lines, MIG lines under their GPU)
and `nvidia-smi --query-gpu=driver_version --format=csv,noheader`; UUIDs are `uuid(i)` and
`mig_uuid(i, j)`.
"""

from __future__ import annotations

import os
from pathlib import Path

DRIVER = "535.104.05"


def uuid(i: int) -> str:
    return f"GPU-{i:08d}-1111-2222-3333-44445555{i:04d}"


def mig_uuid(i: int, j: int) -> str:
    return f"MIG-{i:04d}{j:04d}-aaaa-bbbb-cccc-dddd0000{i:02d}{j:02d}"


def listing(gpus: int, mig_slices: int = 0) -> str:
    """What `nvidia-smi -L` prints for `gpus` GPUs (each in MIG mode with `mig_slices` slices)."""
    lines = []
    for i in range(gpus):
        name = "NVIDIA A100-SXM4-40GB" if mig_slices else "NVIDIA H100 80GB HBM3"
        lines.append(f"GPU {i}: {name} (UUID: {uuid(i)})")
        lines += [
            f"  MIG 1g.5gb      Device  {j}: (UUID: {mig_uuid(i, j)})" for j in range(mig_slices)
        ]
    return "\n".join(lines) + "\n"


def fake_nvidia_smi(folder: Path, gpus: int = 2, mig_slices: int = 0, driver: str = DRIVER) -> Path:
    """Write an executable `nvidia-smi` into `folder/bin`; returns that folder (for PATH)."""
    bin_dir = Path(folder) / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f"  -L) cat <<'END'\n{listing(gpus, mig_slices)}END\n  ;;\n"
        f"  --query-gpu=driver_version) i=0; while [ $i -lt {gpus} ]; do echo {driver}; "
        "i=$((i+1)); done ;;\n"
        '  *) echo "fake nvidia-smi: $*" >&2; exit 1 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return bin_dir


def path_with(bin_dir: Path) -> str:
    """PATH with `bin_dir` first."""
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
