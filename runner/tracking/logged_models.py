"""Trained networks as MLflow models: `tracking.log_model: best | all | none`.

    log_trial_model(tracking_uri, run_id, scorer, metadata)     # `all`: the trial logs its own
    save_weights(root, sweep, cfg_key, seed, scorer, run_id)    # `best`: keep it until the end
    log_best_models(client, tracking_uri, experiment, root)     # sweep end / `specsweep report`

The model is an MLflow PyTorch model named `model` in the trial's run (`runs:/<run id>/model`,
`mlflow.pytorch.load_model` gives a ClipScorer, `mlflow.pyfunc.load_model` the pyfunc of
`models/serving.py`): a mono waveform `(batch, clip_samples)` at the sweep's sample rate in,
per-class probabilities `(batch, n_classes)` out, the class names, sample rate and clip length in
its metadata, with a signature and an input example. The code of `frontends/` and `models/` is
stored with it as one uniquely named package (runner/tracking/bundle.py), so loading needs torch
and timm, not specsweep, and leaves a user's own `models` or `frontends` alone. With
`tracking.onnx: true` (an experiment tag) the model also carries `model.onnx`.

`best`: every finished trial writes its scorer to
`.specsweep/models/<sweep>/<cfg_key>-s<seed>.pt` on the machine that ran it; `log_best_models`
picks, per configuration (`cfg_key`), the finished run with the highest MAP on the first
evaluation set (ties: the lowest seed), logs its model if that run has none yet, deletes a model
it logged earlier for a seed that is no longer the best, and removes the local files it no longer
needs. So a configuration has exactly one logged model whenever this has run. A best run whose
file is on another machine (several nodes) is listed, and that machine's supervisor logs it when
its own sweep ends. `tracking.register_as: NAME` registers the overall best in the Model Registry.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from models.scoring import ClipScorer

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = logging.getLogger(__name__)

MODEL_NAME = "model"  # the model's name in its run: runs:/<run id>/model
DEFAULT_MODEL_ROOT = ".specsweep/models"
LOG_MODEL_MODES = ("best", "all", "none")
# Run tags
TAG_MODEL_ID = "logged_model_id"  # the LoggedModel (models:/<id>) of this run, when it has one
TAG_WEIGHTS_HOST = "weights_host"  # where `best` mode left the weights file
# Experiment tags: what the sweep asked for, so `specsweep report --experiment X` knows it too.
MODEL_TAGS = ("sweep", "config", "cfg_key", "seed")  # run tags copied to the logged model
EXP_TAG_LOG_MODEL = "specsweep.log_model"
EXP_TAG_REGISTER_AS = "specsweep.register_as"
EXP_TAG_ONNX = "specsweep.onnx"  # "true": log model.onnx with each model (tracking.onnx)
ONNX_FILE = "model.onnx"


# --------------------------------------------------------------------------- one model


def make_scorer(classifier: torch.nn.Module, classes, cfg) -> ClipScorer:
    """A CPU copy of a trained `classifier` as a ClipScorer for the trial config `cfg`."""
    import copy

    model = copy.deepcopy(classifier).float().cpu().eval()
    model.backbone.to(memory_format=torch.contiguous_format)
    sample_rate = int(cfg.frontend.sample_rate)
    clip_samples = round(cfg.data.clip_s * sample_rate)
    return ClipScorer(model, tuple(classes), sample_rate, clip_samples, cfg.data.normalize)


def model_metadata(scorer: ClipScorer, **extra: Any) -> dict[str, Any]:
    """What a user of the model needs besides the weights (stored in the MLmodel file)."""
    return {
        "classes": list(scorer.classes),
        "sample_rate": scorer.sample_rate,
        "clip_samples": scorer.clip_samples,
        "clip_s": scorer.clip_s,
        "normalize": scorer.normalize,
        "input": (
            f"mono waveform at {scorer.sample_rate} Hz, samples in [-1, 1], float32 or float64: "
            f"clips (n, {scorer.clip_samples}), one signal (samples,), or signals of another "
            f"length (the pyfunc cuts them into windows of {scorer.clip_s:g} s)"
        ),
        "output": (
            "per-class probabilities (sigmoid; multi-label), in the order of classes; the pyfunc "
            "answers a table: clip, start_s, end_s and one column per class"
        ),
        **extra,
    }


def example_waveform(scorer: ClipScorer) -> np.ndarray:
    """A quiet, deterministic noise clip `(1, clip_samples)`: the model's input example."""
    rng = np.random.default_rng(0)
    return (0.01 * rng.standard_normal((1, scorer.clip_samples))).astype(np.float32)


def model_signature(scorer: ClipScorer):
    """No input schema: MLflow would refuse float64 and 1-D input before the pyfunc (which takes
    them) saw it; the input is described in the metadata. Output: one row per window."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = [ColSpec("long", "clip"), ColSpec("double", "start_s"), ColSpec("double", "end_s")]
    columns += [ColSpec("float", name) for name in scorer.classes]
    return ModelSignature(outputs=Schema(columns))


def log_trial_model(
    tracking_uri: str, run_id: str, scorer: ClipScorer, metadata: dict[str, Any]
) -> str:
    """Log `scorer` as the MLflow PyTorch model `model` of run `run_id`; returns its model id
    (also the run's `logged_model_id` tag)."""
    import mlflow
    import timm
    from mlflow import MlflowClient
    from mlflow.models import Model

    from runner.tracking.bundle import PytorchFlavor, model_bundle

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    run = client.get_run(run_id)
    # Created here so it lands in the run's experiment (log_model alone uses the process's
    # active experiment), with the run's tags that say which trial it is.
    model = client.create_logged_model(
        run.info.experiment_id,
        name=MODEL_NAME,
        source_run_id=run_id,
        tags={k: run.data.tags[k] for k in MODEL_TAGS if k in run.data.tags},
    )
    # MLflow warns on every pickled model; pickling is deliberate here (see serialization_format).
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    bundle = model_bundle()
    onnx_dir = _onnx_file(client, run, scorer) if _wants_onnx(client, run) else None
    info = Model.log(
        artifact_path=None,
        name=MODEL_NAME,
        flavor=PytorchFlavor(bundle),
        # The scorer with its classes from the bundle, a package of its own name that the model
        # carries: loading needs torch and timm, and leaves the user's packages alone.
        pytorch_model=bundle.rebase(scorer),
        run_id=run_id,
        model_id=model.model_id,
        signature=model_signature(scorer),
        input_example=example_waveform(scorer),
        code_paths=[str(bundle.path)],
        extra_files=[str(Path(onnx_dir.name) / ONNX_FILE)] if onnx_dir else None,
        # Written out, not inferred: inference loads the model in a subprocess (seconds).
        pip_requirements=[
            f"torch=={torch.__version__.split('+')[0]}",
            f"timm=={timm.__version__}",
            f"numpy=={np.__version__}",
        ],
        metadata={**metadata, "code_package": bundle.name},
        # A pickled module: torch.export cannot trace the frontend's input checks, and the
        # pickled eager module keeps the one-line errors (docs/design.md, "Self-contained ...").
        serialization_format="pickle",
    )
    client.set_tag(run_id, TAG_MODEL_ID, info.model_id)
    if onnx_dir is not None:
        onnx_dir.cleanup()
    return info.model_id


def _wants_onnx(client: MlflowClient, run: Run) -> bool:
    tags = client.get_experiment(run.info.experiment_id).tags
    return tags.get(EXP_TAG_ONNX) == "true"


def _onnx_file(client: MlflowClient, run: Run, scorer: ClipScorer):
    """`tracking.onnx: true`: the scorer as model.onnx in a temporary folder (checked against
    onnxruntime, the agreement tagged on the run), or None with the reason tagged."""
    import tempfile

    from runner.tracking import onnx_export

    folder = tempfile.TemporaryDirectory(prefix="specsweep-onnx-")
    try:
        path = onnx_export.export_onnx(scorer, Path(folder.name) / ONNX_FILE)
        agreement = onnx_export.check_onnx(path, scorer)
    except Exception as err:  # an architecture the exporter cannot take: the model still logs
        log.warning("run %s: no ONNX file (%s: %s)", run.info.run_name, type(err).__name__, err)
        client.set_tag(run.info.run_id, "onnx", f"failed: {type(err).__name__}: {err}"[:500])
        folder.cleanup()
        return None
    client.set_tag(run.info.run_id, "onnx", agreement.line())
    return folder


# --------------------------------------------------------------------------- best mode


def weights_path(root: str | Path, sweep: str, cfg_key: str, seed: int) -> Path:
    return Path(root) / sweep / f"{cfg_key}-s{seed}.pt"


def save_weights(
    root: str | Path, sweep: str, cfg_key: str, seed: int, scorer: ClipScorer, run_id: str
) -> Path:
    """Write the trial's scorer where `log_best_models` finds it (atomically)."""
    path = weights_path(root, sweep, cfg_key, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"scorer": scorer, "run_id": run_id}, tmp)
    os.replace(tmp, path)
    return path


@dataclass
class BestModels:
    """What `log_best_models` did. `models`: cfg_key -> (run id, model id) of its logged model."""

    models: dict[str, tuple[str, str]] = field(default_factory=dict)
    logged: list[str] = field(default_factory=list)  # run names logged by this call
    replaced: list[str] = field(default_factory=list)  # run names whose model was deleted
    elsewhere: list[str] = field(default_factory=list)  # "run name (host)": file not here
    registered: str | None = None  # "NAME version N"

    def lines(self) -> list[str]:
        out = [f"models: {len(self.models)} configuration(s) have their best model logged"]
        if self.logged:
            out.append(f"models: logged {', '.join(self.logged)}")
        if self.replaced:
            out.append(f"models: deleted the superseded model(s) of {', '.join(self.replaced)}")
        if self.elsewhere:
            out.append(
                "models: not logged here, the weights are on the machine that ran them (its "
                f"supervisor logs them when its sweep ends): {', '.join(self.elsewhere)}"
            )
        if self.registered:
            out.append(f"models: registered the overall best as {self.registered}")
        return out


def first_eval_set(run: Run) -> str | None:
    text = run.data.params.get("eval.sets", "")
    try:
        sets = json.loads(text)
    except json.JSONDecodeError:
        return None
    return sets[0] if isinstance(sets, list) and sets else None


def best_runs(runs: list[Run]) -> dict[str, Run]:
    """cfg_key -> the finished trial run with the highest map_<first set> (ties: lowest seed)."""
    best: dict[str, tuple[tuple[float, int], Run]] = {}
    for run in runs:
        if run.info.status != "FINISHED":
            continue
        first = first_eval_set(run)
        value = run.data.metrics.get(f"map_{first}") if first else None
        if value is None or not np.isfinite(value):
            continue
        cfg_key = run.data.tags.get("cfg_key", run.info.run_id)
        rank = (float(value), -int(run.data.tags.get("seed", "0")))
        if cfg_key not in best or rank > best[cfg_key][0]:
            best[cfg_key] = (rank, run)
    return {k: run for k, (_, run) in best.items()}


def log_best_models(
    client: MlflowClient,
    tracking_uri: str,
    experiment: str,
    root: str | Path = DEFAULT_MODEL_ROOT,
    register_as: str | None = None,
) -> BestModels:
    """Make each configuration's best finished run (the only one) carry a logged model."""
    from runner.tracking.runs import KIND_TAG, find_experiment, search_all

    exp = find_experiment(client, experiment)
    runs = search_all(client, exp.experiment_id, f"tags.`{KIND_TAG}` = 'trial'")
    best = best_runs(runs)
    best_ids = {run.info.run_id for run in best.values()}
    out = BestModels()
    here = platform.node()
    for run in runs:  # superseded models: a seed that is no longer its configuration's best
        model_id = run.data.tags.get(TAG_MODEL_ID)
        if model_id and run.info.run_id not in best_ids and run.info.status == "FINISHED":
            _delete_model(client, run.info.run_id, model_id)
            out.replaced.append(run.info.run_name)
    for cfg_key, run in sorted(best.items()):
        # Read again: another supervisor of the sweep may have logged it since the search.
        model_id = client.get_run(run.info.run_id).data.tags.get(TAG_MODEL_ID)
        if model_id is None:
            tags = run.data.tags
            path = weights_path(root, tags.get("sweep", experiment), cfg_key, int(tags["seed"]))
            if not path.is_file():
                host = tags.get(TAG_WEIGHTS_HOST, "unknown host")
                if host == here:
                    host += ", file deleted"
                out.elsewhere.append(f"{run.info.run_name} ({host})")
                continue
            try:
                saved = torch.load(path, weights_only=False)  # our own, written by save_weights
            except FileNotFoundError:  # another supervisor logged it and removed the file
                model_id = client.get_run(run.info.run_id).data.tags.get(TAG_MODEL_ID)
                if model_id is not None:
                    out.models[cfg_key] = (run.info.run_id, model_id)
                continue
            model_id = log_trial_model(
                tracking_uri, run.info.run_id, saved["scorer"], _metadata_of(run, saved["scorer"])
            )
            out.logged.append(run.info.run_name)
        out.models[cfg_key] = (run.info.run_id, model_id)
    out.replaced += mend_models(client, exp.experiment_id, runs, best, out.models)
    _remove_local_files(root, runs, best, out.models)
    if register_as and out.models:
        out.registered = register_best(client, tracking_uri, register_as, best, out.models)
    return out


def _metadata_of(run: Run, scorer: ClipScorer) -> dict[str, Any]:
    tags = run.data.tags
    first = first_eval_set(run)
    return model_metadata(
        scorer,
        sweep=tags.get("sweep"),
        config=tags.get("config", tags.get("trial_name")),
        cfg_key=tags.get("cfg_key"),
        seed=int(tags.get("seed", "0")),
        run_id=run.info.run_id,
        **{f"map_{first}": run.data.metrics.get(f"map_{first}")},
    )


def _delete_model(client: MlflowClient, run_id: str, model_id: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_logged_model(model_id)
    except MlflowException as err:  # already gone
        log.info("model %s of run %s: %s", model_id, run_id, err)
    client.delete_tag(run_id, TAG_MODEL_ID)


def _remove_local_files(root, runs: list[Run], best: dict[str, Run], models: dict) -> None:
    """Weights files no longer needed: logged already, or of a finished run that is not (and so
    can never become) its configuration's best."""
    keep = {run.info.run_id for k, run in best.items() if k not in models}
    for run in runs:
        if run.info.status != "FINISHED" or run.info.run_id in keep:
            continue
        tags = run.data.tags
        if "cfg_key" in tags and "seed" in tags:
            path = weights_path(root, tags.get("sweep", ""), tags["cfg_key"], int(tags["seed"]))
            path.unlink(missing_ok=True)


def register_best(
    client: MlflowClient,
    tracking_uri: str,
    name: str,
    best: dict[str, Run],
    models: dict[str, tuple[str, str]],
) -> str:
    """Register the overall best logged model as `name` (a new version only when it changed)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    def score(cfg_key: str) -> float:
        run = best[cfg_key]
        return float(run.data.metrics.get(f"map_{first_eval_set(run)}", float("-inf")))

    cfg_key = max(models, key=score)
    run_id, model_id = models[cfg_key]
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        versions = []
    for version in versions:
        if version.run_id == run_id and getattr(version, "model_id", None) in (model_id, None):
            return f"{name} version {version.version} (already: {best[cfg_key].info.run_name})"
    mlflow.set_tracking_uri(tracking_uri)
    version = mlflow.register_model(f"models:/{model_id}", name)
    return f"{name} version {version.version} ({best[cfg_key].info.run_name})"


# --------------------------------------------------------------------------- several supervisors


def mend_models(
    client: MlflowClient,
    experiment_id: str,
    runs: list[Run],
    best: dict[str, Run],
    models: dict[str, tuple[str, str]],
) -> list[str]:
    """Leave one logged model per configuration, whoever logged them: several supervisors of one
    sweep (the two-node recipe) each log the best runs when their sweep ends, so a best run may
    get two models, and a model may outlive its run's rank. Every caller keeps the same one, the
    oldest READY model of the best run (a PENDING one is still being logged by someone else,
    who mends after it), points the run's tag at it and deletes the rest: READY models of the
    best runs beyond the first, and of finished runs that are not their configuration's best.
    Updates `models`; returns the names of the runs whose models were deleted."""
    from mlflow.entities import LoggedModelStatus

    by_run: dict[str, list] = {}
    for model in _all_models(client, experiment_id):
        if model.status == LoggedModelStatus.READY:
            by_run.setdefault(model.source_run_id, []).append(model)
    deleted = []
    finished = {r.info.run_id: r for r in runs if r.info.status == "FINISHED"}
    best_ids = {run.info.run_id: cfg_key for cfg_key, run in best.items()}
    for run_id, found in by_run.items():
        run = finished.get(run_id)
        if run is None:  # not a finished trial of this sweep: not ours to judge
            continue
        found.sort(key=lambda m: (m.creation_timestamp, m.model_id))
        extra = found[1:] if run_id in best_ids else found
        for model in extra:
            _delete_model_only(client, model.model_id)
        if extra:
            deleted.append(run.info.run_name)
        if run_id in best_ids:
            keep = found[0].model_id
            if client.get_run(run_id).data.tags.get(TAG_MODEL_ID) != keep:
                client.set_tag(run_id, TAG_MODEL_ID, keep)
            models[best_ids[run_id]] = (run_id, keep)
        elif run.data.tags.get(TAG_MODEL_ID):
            client.delete_tag(run_id, TAG_MODEL_ID)
    return deleted


def _all_models(client: MlflowClient, experiment_id: str) -> list:
    models, token = [], None
    while True:
        page = client.search_logged_models([experiment_id], max_results=1000, page_token=token)
        models.extend(page)
        token = page.token
        if not token:
            return models


def _delete_model_only(client: MlflowClient, model_id: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_logged_model(model_id)
    except MlflowException as err:  # another supervisor deleted it first
        log.info("model %s: %s", model_id, err)
