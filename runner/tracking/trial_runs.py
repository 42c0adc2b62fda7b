"""MLflow logging of one trial, in the layout of docs/design.md, decision 7 (read back by
`runner.tracking.runs`).

    tracker = TrialTracker.start(uri, experiment, spec, attempt=1)
    tracker.log_epoch(3, {"train_loss": 0.21, "val_map_test": 0.64, "epoch_time_s": 8.2})
    tracker.log_final({"map_test": 0.66, "train_time_s": 41.0, ...})
    tracker.end("FINISHED")                        # or end("FAILED", reason="nan_loss")

Layout: one run per trial named `<trial name>-s<seed>`; tags `specsweep.kind=trial`, `sweep`,
`cfg_key`, `seed`, `attempt`, `trial_name`, `config` (the same readable name, shared by the seeds
of one configuration, for the UI's "Group by"), `swept` (JSON list of the swept keys), `reason` on
any run that did not finish; params = every resolved config value under its dotted key (tuples and
mappings as JSON, None as `na`) plus `seed`; metrics per epoch with `step=epoch` and final ones
without; artifacts `config.yaml`, `env.json`, `per_class_ap_<set>.csv`, `preview.png`/`.npy`
(the figure drawn by `reports.preview`) and, for a frontend with exp or PCEN,
`frontend_params.json`.

Only MLflow's client API is used (no global "active run"), so several trials in one process, or a
supervisor thread beside a trial, cannot log into each other's runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException

from runner.cores import available_cores
from runner.locks import file_lock

if TYPE_CHECKING:
    from runner.sweep.spec import TrialSpec

NA = "na"
_BATCH = 100  # MLflow's limit of params per log_batch call
_MAX_TAG = 5000  # keep the reason tag well inside MLflow's tag value limit


# --------------------------------------------------------------------------- params


def format_param(value: Any) -> str:
    """One config value as an MLflow param string: None -> 'na', tuples/lists/dicts -> JSON,
    booleans -> 'true'/'false', numbers and strings as they print."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list, dict)):
        return json.dumps(_plain(value), separators=(", ", ": "))
    return str(value)


def flatten_config(config: Any, prefix: str = "") -> dict[str, str]:
    """Every leaf of a (nested) config dataclass under its dotted key, formatted as a param.

    Nested dataclasses recurse (`frontend.pcen.smoothing`); a free-form mapping such as
    `model.kwargs` is one value, logged as JSON.
    """
    out: dict[str, str] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flatten_config(value, f"{key}."))
        else:
            out[key] = format_param(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- environment


def environment(device: str) -> dict[str, Any]:
    """What produced a run: library versions, git commit, machine and device."""
    import mlflow
    import soxr
    import timm
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cores": available_cores(),  # the ones this process may run on (its affinity)
        "torch_threads": torch.get_num_threads(),
        "device": device,
        # The slot's GPU as the supervisor handed it over (a UUID, or an index).
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "versions": {
            "torch": torch.__version__,
            "soxr": soxr.__version__,
            "timm": timm.__version__,
            "numpy": np.__version__,
            "mlflow": mlflow.__version__,
        },
        "git": _git_state(),
    }
    for name in ("torchvision", "optuna", "soundfile"):
        with contextlib.suppress(ImportError):
            env["versions"][name] = __import__(name).__version__
    if device.startswith("cuda"):
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _git_state() -> dict[str, Any]:
    """The code's commit, and whether the working tree had uncommitted changes."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status)}


# --------------------------------------------------------------------------- artifacts


def per_class_csv(classes: tuple[str, ...], ap: np.ndarray, n_positive: np.ndarray) -> str:
    """`class,ap,n_positive` rows; ap is 'nan' for a class with no positive in the set."""
    lines = ["class,ap,n_positive"]
    for name, value, n in zip(classes, ap, n_positive):
        text = "nan" if not np.isfinite(value) else f"{value:.6f}"
        quoted = f'"{name}"' if "," in name or '"' in name else name
        lines.append(f"{quoted},{text},{int(n)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def store_lock(tracking_uri: str):
    """Serialise first contact with a local SQLite store across processes.

    MLflow creates a new SQLite store's tables on first use, and two trials starting together on
    a fresh `mlflow.db` race to do so ("table ... already exists"). A `runner.locks.file_lock` on
    `<db>.lock` makes the second wait until the first has built it. Other stores need no lock.
    """
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    with file_lock(f"{db}.lock"):
        yield


def get_or_create_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created if needed (safe when several trials start at once)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # another process created it between the two calls
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


class TrialTracker:
    """One trial's MLflow run."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    @classmethod
    def start(
        cls,
        tracking_uri: str,
        experiment: str,
        spec: TrialSpec,
        *,
        attempt: int = 1,
        extra_tags: dict[str, Any] | None = None,
    ) -> TrialTracker:
        """Create the run with its tags and params (status RUNNING)."""
        with store_lock(tracking_uri):
            client = MlflowClient(tracking_uri)
            experiment_id = get_or_create_experiment(client, experiment)
        tags = {
            "specsweep.kind": "trial",
            "sweep": spec.sweep,
            "cfg_key": spec.cfg_key,
            "seed": str(spec.seed),
            "attempt": str(attempt),
            "trial_name": spec.name,
            "config": spec.name,  # the readable configuration name: "Group by config" in the UI
            "trial_index": str(spec.index),
            "swept": json.dumps(list(spec.swept)),
            **{k: str(v) for k, v in (extra_tags or {}).items()},
        }
        run = client.create_run(experiment_id, tags=tags, run_name=spec.run_name)
        tracker = cls(client, run.info.run_id)
        params = {**flatten_config(spec.config), "seed": str(spec.seed)}
        tracker._log_params(params)
        return tracker

    def _log_params(self, params: dict[str, str]) -> None:
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _BATCH])

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, metrics: dict[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, metrics=items[i : i + _BATCH])

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Per-epoch metrics with `step=epoch` (1-based)."""
        self.log_metrics(metrics, step=epoch)

    def log_final(self, metrics: dict[str, float]) -> None:
        self.log_metrics(metrics, step=0)

    def log_text(self, name: str, text: str) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(text)
            self.client.log_artifact(self.run_id, str(path))

    def log_config(self, spec: TrialSpec) -> None:
        """`config.yaml`: the resolved TrialConfig plus the seed; reproduces the run."""
        document = {**spec.config.to_dict(), "seed": spec.seed}
        self.log_text("config.yaml", yaml.safe_dump(document, sort_keys=False))

    def log_environment(self, device: str) -> None:
        self.log_text("env.json", json.dumps(environment(device), indent=2) + "\n")

    def log_preview(self, png: bytes, image: np.ndarray) -> None:
        """`preview.png` (the figure of a few clips, drawn by `reports.preview`) and
        `preview.npy` = `image`, the first clip's frontend output `(channels, H, W)`."""
        with tempfile.TemporaryDirectory() as tmp:
            png_path, npy = Path(tmp) / "preview.png", Path(tmp) / "preview.npy"
            png_path.write_bytes(png)
            np.save(npy, image.astype(np.float32))
            self.client.log_artifact(self.run_id, str(png_path))
            self.client.log_artifact(self.run_id, str(npy))

    def end(self, status: str, reason: str | None = None) -> None:
        """Terminate the run: FINISHED, or FAILED / KILLED with a `reason` tag."""
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise ValueError(f"status: {status!r} is not FINISHED, FAILED or KILLED")
        if status != "FINISHED":
            self.set_tags({"reason": (reason or "error: unknown")[:_MAX_TAG]})
        self.client.set_terminated(self.run_id, status=status)


def mark_interrupted(tracking_uri: str, run_id: str, resumed_by: str) -> bool:
    """End a run that a dead process left RUNNING as KILLED, reason `interrupted`.

    Called when a trial resumes from the checkpoint an earlier attempt wrote: that attempt's run
    must not keep looking alive. Returns whether the run was changed.
    """
    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return False
    if run.info.status != RunStatus.to_string(RunStatus.RUNNING):
        return False
    client.log_batch(
        run_id, tags=[RunTag("reason", "interrupted"), RunTag("resumed_by", resumed_by)]
    )
    client.set_terminated(run_id, status="KILLED")
    return True


def finished_run(tracking_uri: str, experiment: str, spec: TrialSpec):
    """The FINISHED trial run of `spec` (same cfg_key and seed) in `experiment`, or None.

    A supervisor killed after its child ended the run FINISHED, but before it recorded the result
    in the queue, leaves a point that the queue runs again; the worker adopts this run instead
    of training a second one (docs/design.md, decision 6: exactly once).
    """
    client = MlflowClient(tracking_uri)
    with store_lock(tracking_uri):
        found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=(
            f"tags.cfg_key = '{spec.cfg_key}' and tags.seed = '{spec.seed}' "
            "and tags.`specsweep.kind` = 'trial' and attributes.status = 'FINISHED'"
        ),
        max_results=1,
    )
    return runs[0] if runs else None
