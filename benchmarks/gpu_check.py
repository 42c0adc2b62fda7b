"""The device check: specsweep's GPU paths on one GPU machine, in one command (`make gpu-check`).

    python3 benchmarks/gpu_check.py                          # on the GPU machine: .gpu-check/
    python3 benchmarks/gpu_check.py --dry-run --out /tmp/c   # every step, tiny, on the CPU

Runs with the machine's own Python and torch and no network: the other packages come from the
wheels of `make device-wheels` (`.whl/`, installed with `pip install --no-index --no-deps
--target <out>/site`). Every step runs in a child process with the repository and those wheels
on PYTHONPATH, writes its log (`<step>.log`) and its figures (`<step>.json`) under the output
folder; `summary.json` says how each step ended. A step that fails does not stop the next; the
whole check keeps within `--budget-s` (steps past it are recorded as skipped).

1. setup         the wheels installed; what the machine is (torch, CUDA, GPU, driver)
2. cuda_tests    `pytest -m cuda` (frontend on CUDA vs CPU; bf16 / channels_last / compile
                 trials; the device, checkpoints and timing with real CUDA calls)
3. demo_sweep    sweeps/demo.yaml end to end with `--jobs-per-gpu 4`: every trial finished
                 once, one logged model per configuration, the report, each child's GPU
4. slot_scaling  the demo's trials at jobs_per_gpu 1, 2, 4, 8: trials per minute, GPU
                 utilisation from the runs' system metrics
5. bench_trial   ResNet-50, 128x512, 3 channels, batch 64 (bf16, channels_last: `amp: auto`
                 on CUDA): full pipeline vs backbone alone, samples/s
6. frontends     bench_frontend_cost.py on merlin_part2 and bench_frontends.py

`--dry-run` is `--device cpu` with every size shrunk (two-trial sweeps, 1 epoch, tiny images):
the same steps, commands and checks, in a few minutes on a laptop; `tests/test_gpu_check.py`
runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Every test file with a CUDA test (tests/test_gpu_check.py checks that none is missing): only
# these are collected, so the dev-only test dependencies (librosa, scikit-learn) are not needed.
CUDA_TEST_FILES = (
    "tests/frontends/test_frontends.py",
    "tests/train/test_trial.py",
    "tests/train/test_gpu_paths.py",
)
IMPORTS = ("torch", "timm", "mlflow", "optuna", "soxr", "soundfile", "pynvml", "pytest")


@dataclass
class Check:
    """Where the check writes, how it runs its children, and what is left of its time."""

    out: Path
    dry: bool
    budget_s: float
    env: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    summary: dict[str, dict] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cpu" if self.dry else "cuda"

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def run(self, name: str, args: list[str], timeout_s: float, cwd: Path = ROOT) -> dict:
        """Run `args` (a Python command line) in the check's environment, its output appended to
        `<name>.log`; rc, wall_s, timed_out and the output."""
        timeout_s = max(1.0, min(timeout_s, self.left_s()))
        start = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, *args],
                cwd=cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
            rc, output, timed_out = done.returncode, done.stdout + done.stderr, False
        except subprocess.TimeoutExpired as err:
            rc, timed_out = 124, True
            output = (
                _text(err.stdout) + _text(err.stderr) + f"\n[timed out after {timeout_s:.0f} s]"
            )
        wall_s = time.monotonic() - start
        with open(self.out / f"{name}.log", "a") as log:
            log.write(
                f"$ python {' '.join(args)}   (cwd {cwd}, {wall_s:.1f} s, rc {rc})\n{output}\n"
            )
        return {"rc": rc, "wall_s": round(wall_s, 2), "timed_out": timed_out, "output": output}

    def record(self, name: str, ok: bool, figures: dict, wall_s: float) -> None:
        (self.out / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        self.summary[name] = {"ok": ok, "wall_s": round(wall_s, 1)}
        print(f"gpu-check: {name}: {'ok' if ok else 'FAILED'} ({wall_s:.0f} s)", flush=True)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


# --------------------------------------------------------------------------- 1. setup


def setup(check: Check, wheels: Path) -> bool:
    """Install the wheels (if their list is there) and describe the machine."""
    site = check.out / "site"
    figures: dict = {"wheels": None}
    listed = wheels / "wheels.txt"
    if listed.exists():
        files = [wheels / line.split()[1] for line in listed.read_text().splitlines() if line]
        if check.dry and sys.version_info[:2] != (3, 12):  # the cp312 ones cannot go here
            files = [f for f in files if f.name.endswith("-none-any.whl")]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-index",
                "--no-deps",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(site),
                *map(str, files),
            ],
            capture_output=True,
            text=True,
        )
        (check.out / "setup.log").write_text(done.stdout + done.stderr)
        figures["wheels"] = {"installed": len(files), "rc": done.returncode, "target": str(site)}
        if done.returncode != 0:
            check.record("setup", False, figures, 0.0)
            return False
    paths = [str(ROOT), str(site), os.environ.get("PYTHONPATH", "")]
    check.env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "HF_HUB_OFFLINE": "1",
    }
    if check.dry:
        check.env["CUDA_VISIBLE_DEVICES"] = ""
    probe = (
        f"import importlib, json; mods = {{m: importlib.import_module(m) for m in {IMPORTS!r}}}; "
        "t = mods['torch']; ok = t.cuda.is_available(); "
        "print(json.dumps({'versions': {m: getattr(v, '__version__', '?') for m, v in mods.items()}, "
        "'cuda': t.version.cuda, 'gpu': t.cuda.get_device_name(0) if ok else None, "
        "'capability': t.cuda.get_device_capability(0) if ok else None, "
        "'gpus': t.cuda.device_count() if ok else 0}))"
    )
    done = check.run("setup", ["-c", probe], 120)
    try:
        figures.update(json.loads(done["output"].strip().splitlines()[-1]))
    except (IndexError, ValueError):
        figures["error"] = done["output"].strip()[-2000:]
    figures["driver"] = _driver()
    ok = done["rc"] == 0 and (check.dry or figures.get("gpus", 0) > 0)
    check.record("setup", ok, figures, done["wall_s"])
    return ok


def _driver() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    done = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


# --------------------------------------------------------------------------- 2. CUDA tests


def cuda_tests(check: Check) -> None:
    xml = check.out / "cuda_tests.xml"
    args = [
        "-m",
        "pytest",
        "-q",
        "-m",
        "cuda",
        "-p",
        "no:cacheprovider",
        f"--junitxml={xml}",
        *CUDA_TEST_FILES,
    ]
    done = check.run("cuda_tests", args, 240)
    counts = _junit_counts(xml)
    bad = counts.get("failures", 1) + counts.get("errors", 1)
    # On a GPU a skipped CUDA test means CUDA was not found: a failure of the check.
    ok = done["rc"] in (0, 5 if check.dry else 0) and bad == 0
    ok = ok and (check.dry or (counts.get("skipped", 1) == 0 and counts.get("tests", 0) > 0))
    check.record("cuda_tests", ok, {**counts, "rc": done["rc"]}, done["wall_s"])


def _junit_counts(xml: Path) -> dict[str, int]:
    if not xml.exists():
        return {}
    head = xml.read_text()[:2000]
    return {
        k: int(v) for k, v in re.findall(r'\b(tests|failures|errors|skipped)="(\d+)"', head)[:4]
    }


# --------------------------------------------------------------------------- sweeps


def sweep_file(check: Check, folder: Path, name: str, **overrides) -> Path:
    """sweeps/demo.yaml with its data under the output folder (generated once, shared), its
    MLflow store in `folder`, system metrics every 2 s; tiny in a dry run; then `overrides`
    (dotted keys)."""
    raw = yaml.safe_load((ROOT / "sweeps" / "demo.yaml").read_text())
    data = check.out / "data"
    raw["name"] = name
    raw["data"].update(cache_dir=str(data / "cache"))
    raw["data"].setdefault("synthetic", {})["output_dir"] = str(data / "synthetic")
    raw["tracking"] = {"uri": f"sqlite:///{folder / 'mlflow.db'}", "system_metrics_s": 2}
    raw["resources"] = {}
    if check.dry:
        raw["data"]["clip_s"] = 1.5
        raw["data"]["synthetic"].update(n_species=4, n_train=48, n_test=16, n_field=16)
        raw["frontend"].update(n_mels=32, image_size=[32, 64])
        raw["train"].update(epochs=1, warmup_epochs=0, batch_size=16)
        raw["grid"] = {"axes": {"frontend.win_length": [256, 512]}}
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def where(check: Check, jobs: int) -> list[str]:
    """The sweep options for `jobs` trials at once: on the GPU, jobs per GPU; dry, CPU slots."""
    return ["--gpus", "none", "--slots", str(jobs)] if check.dry else ["--jobs-per-gpu", str(jobs)]


def inspect_sweep(path: Path) -> dict:
    """What a finished sweep left in MLflow (run in the check's environment, in the sweep's
    folder): trials expected and finished once, logged models, each run's GPU, GPU utilisation."""
    from mlflow import MlflowClient

    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep
    from runner.tracking.runs import read_sweep

    sweep = load_sweep(path)
    client = MlflowClient(sweep.tracking.uri)
    table = read_sweep(client, sweep.experiment)
    experiment = client.get_experiment_by_name(sweep.experiment)
    runs = {t.run_id: t for t in table.trials}
    gpus, utilisation, memory = [], [], []
    for run_id in runs:
        env = json.loads(Path(client.download_artifacts(run_id, "env.json")).read_text())
        gpus.append(env.get("cuda_visible_devices"))
        for key, into in (
            ("system/gpu_0_utilization_percentage", utilisation),
            ("peak_mem_mb", memory),
        ):
            into.extend(m.value for m in client.get_metric_history(run_id, key))
    finished = [t for t in table.trials if t.finished]
    models = client.search_logged_models(experiment_ids=[experiment.experiment_id])
    train = sorted(t.train_time_s for t in finished if t.train_time_s is not None)
    return {
        "trials": len(expand(sweep)),
        "finished_once": sum(t.attempts == 1 for t in finished),
        "finished": len(finished),
        "logged_models": len(models),
        "configurations": len({t.cfg_key for t in table.trials}),
        "gpus_seen": sorted({str(g) for g in gpus}),
        "gpu_util_mean_pct": sum(utilisation) / len(utilisation) if utilisation else None,
        "peak_mem_mb_max": max(memory) if memory else None,
        "train_time_s_median": train[len(train) // 2] if train else None,
    }


def _inspect(check: Check, name: str, path: Path) -> dict:
    done = check.run(
        name, [str(Path(__file__).resolve()), "--inspect", str(path)], 120, path.parent
    )
    try:
        return json.loads(done["output"].strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": done["output"].strip()[-2000:]}


# --------------------------------------------------------------------------- 3. demo sweep


def demo_sweep(check: Check) -> None:
    folder = check.out / "demo"
    path = sweep_file(check, folder, "demo")
    sweep = check.run(
        "demo_sweep",
        ["-m", "runner.cli", "sweep", path.name, "--no-live", *where(check, 2 if check.dry else 4)],
        300,
        folder,
    )
    report = check.run("demo_sweep", ["-m", "runner.cli", "report", path.name], 120, folder)
    seen = _inspect(check, "demo_sweep", path)
    html = folder / "reports" / "out" / "demo" / "report.html"
    figures = {
        "sweep_rc": sweep["rc"],
        "sweep_wall_s": sweep["wall_s"],
        "report_rc": report["rc"],
        "report": html.exists(),
        **seen,
    }
    ok = (
        sweep["rc"] == 0
        and report["rc"] == 0
        and html.exists()
        and seen.get("finished_once") == seen.get("trials") == seen.get("finished")
        and seen.get("logged_models") == seen.get("configurations")
        # every child saw one GPU of its own (one GPU here: all the same UUID)
        and (check.dry or all(g not in ("None", "") for g in seen.get("gpus_seen", [""])))
    )
    check.record("demo_sweep", ok, figures, sweep["wall_s"] + report["wall_s"])


# --------------------------------------------------------------------------- 4. slot scaling


def slot_scaling(check: Check, jobs: tuple[int, ...], seeds: int, epochs: int) -> None:
    rows, ok, wall = [], True, 0.0
    for j in jobs:
        folder = check.out / "scaling" / f"j{j}"
        overrides = {"tracking.log_model": "none"}
        if not check.dry:  # the demo's 4 window x hop configurations, `seeds` each
            axes = {"frontend.win_length": [256, 512], "frontend.hop_length": [64, 128]}
            overrides.update({"grid": {"axes": axes}, "train.epochs": epochs})
        path = sweep_file(check, folder, f"scaling-j{j}", seeds=list(range(seeds)), **overrides)
        done = check.run(
            "slot_scaling",
            ["-m", "runner.cli", "sweep", path.name, "--no-live", *where(check, j)],
            300,
            folder,
        )
        seen = _inspect(check, "slot_scaling", path)
        wall += done["wall_s"]
        n = seen.get("finished", 0)
        rows.append(
            {
                "jobs_per_gpu": j,
                "rc": done["rc"],
                "wall_s": done["wall_s"],
                "trials": n,
                "trials_per_min": 60 * n / done["wall_s"] if n else 0.0,
                **{
                    k: seen.get(k)
                    for k in ("gpu_util_mean_pct", "peak_mem_mb_max", "train_time_s_median")
                },
            }
        )
        ok = ok and done["rc"] == 0 and n == seen.get("trials")
        print(f"gpu-check: slot scaling {rows[-1]}", flush=True)
    check.record("slot_scaling", ok, {"rows": rows}, wall)


# --------------------------------------------------------------------------- 5. bench_trial


def bench_trial(check: Check) -> None:
    sweep = check.out / "demo" / "demo.yaml"  # its data is generated already
    if check.dry:
        size = ["--image-size", "32", "64", "--batch-size", "8", "--workers", "0", "--repeats", "1"]
    else:
        size = [
            "--model",
            "resnet50",
            "--image-size",
            "128",
            "512",
            "--channels",
            "3",
            "--batch-size",
            "64",
            "--workers",
            "0",
            "4",
            "--repeats",
            "3",
        ]
    args = ["benchmarks/bench_trial.py", "--sweep", str(sweep), "--device", check.device, *size]
    done = check.run("bench_trial", args, 150)
    rates = {
        m[1].strip(): float(m[2])
        for m in re.finditer(r"^\s+(.+?)\s+([\d.]+) samples/s", done["output"], re.M)
    }
    check.record(
        "bench_trial",
        done["rc"] == 0 and bool(rates),
        {"samples_per_s": rates, "args": size},
        done["wall_s"],
    )


# --------------------------------------------------------------------------- 6. frontends


def frontends(check: Check) -> None:
    raw = yaml.safe_load((ROOT / "sweeps" / "merlin_part2.yaml").read_text())
    raw["model"]["pretrained"] = "none"  # the timing needs no weights (and there is no network)
    if check.dry:
        raw["model"]["name"] = "mobilenetv3_small_050"
        raw["train"]["batch_size"] = 2
        raw["frontend"].update(n_mels=32, image_size=[32, 64])
    folder = check.out / "frontends"
    folder.mkdir(parents=True, exist_ok=True)
    part2 = folder / "merlin_part2.yaml"
    part2.write_text(yaml.safe_dump(raw, sort_keys=False))
    cost_args = [
        "benchmarks/bench_frontend_cost.py",
        "--sweep",
        str(part2),
        "--device",
        check.device,
    ]
    if check.dry:
        cost_args += ["--steps", "1", "--repeats", "1"]
    cost = check.run("frontends", cost_args, 150)
    speed_args = ["benchmarks/bench_frontends.py", "--device", check.device]
    if check.dry:  # (its training part is ResNet-50 at 128x512: minutes on a CPU)
        speed_args += ["--batch", "2", "--reps", "1", "--librosa-clips", "0", "--skip-train"]
    else:  # librosa (the CPU baseline) is not among the device wheels
        speed_args += [
            "--train-batch",
            "64",
            "--librosa-clips",
            "16" if _has("librosa", check) else "0",
        ]
    speed = check.run("frontends", speed_args, 150)
    figures = {
        "frontend_cost": {"rc": cost["rc"], "output": cost["output"][-6000:]},
        "frontends": {"rc": speed["rc"], "output": speed["output"][-6000:]},
    }
    check.record(
        "frontends", cost["rc"] == 0 and speed["rc"] == 0, figures, cost["wall_s"] + speed["wall_s"]
    )


def _has(module: str, check: Check) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], env=check.env, capture_output=True
    )
    return done.returncode == 0


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path(os.environ.get("GPU_CHECK_OUT", ".gpu-check")))
    p.add_argument("--wheels", type=Path, default=ROOT / ".whl")
    p.add_argument("--dry-run", action="store_true", help="every step tiny, on the CPU")
    p.add_argument("--budget-s", type=float, default=450.0, help="steps past it are skipped")
    p.add_argument("--jobs", type=int, nargs="+", help="slot scaling (default 1 2 4 8; dry 1 2)")
    p.add_argument("--seeds", type=int, default=2, help="slot scaling: seeds x 4 demo configs")
    p.add_argument("--epochs", type=int, default=2, help="slot scaling: epochs per trial")
    p.add_argument("--only", nargs="+", help="run only these steps (after setup)")
    p.add_argument("--inspect", type=Path, help=argparse.SUPPRESS)  # a child: one sweep's figures
    args = p.parse_args(argv)
    if args.inspect:
        print(json.dumps(inspect_sweep(args.inspect), default=str))
        return 0
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    check = Check(out, args.dry_run, args.budget_s)
    jobs = tuple(args.jobs or ((1, 2) if args.dry_run else (1, 2, 4, 8)))
    steps = {
        "cuda_tests": lambda: cuda_tests(check),
        "demo_sweep": lambda: demo_sweep(check),
        "slot_scaling": lambda: slot_scaling(
            check, jobs, 1 if args.dry_run else args.seeds, args.epochs
        ),
        "bench_trial": lambda: bench_trial(check),
        "frontends": lambda: frontends(check),
    }
    if setup(check, args.wheels):
        for name, step in steps.items():
            if args.only and name not in args.only:
                continue
            if check.left_s() < 20:
                check.summary[name] = {"ok": False, "skipped": "out of time (--budget-s)"}
                continue
            step()
    total = time.monotonic() - check.started
    ok = all(s["ok"] for s in check.summary.values())
    (out / "summary.json").write_text(
        json.dumps(
            {"ok": ok, "dry_run": args.dry_run, "wall_s": round(total, 1), "steps": check.summary},
            indent=2,
        )
        + "\n"
    )
    print(f"gpu-check: {'ok' if ok else 'FAILED'} in {total:.0f} s; results in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
