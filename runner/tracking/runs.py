"""The MLflow side of reports: read a sweep's runs into a `reports.SweepTable`, log the report back.

The layout read here is the one `runner.train.trial` writes (docs/design.md, decision 7): one
run per trial tagged `specsweep.kind=trial`, `cfg_key`, `seed`, `attempt`, `trial_name`, `swept`
(JSON list of swept keys), `reason`; params = the resolved config with dotted keys (tuples as
JSON, None as `na`); final metrics `map_<set>`, `train_time_s`, ...; per-epoch `val_map_<set>`;
artifacts `preview.npy`, `frontend_params.json` and `env.json` (the machine). The report goes to the sweep's summary run
(`specsweep.kind=summary`) under `report/`.

    client = connect("sqlite:///mlflow.db")
    table = read_sweep(client, "demo")
    log_report(client, "demo", files)

Every user mistake (no store there, a server that does not answer, an unknown or empty
experiment) is a `UserError` that names the URI or experiment and says what to do.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reports.table import SweepTable, Trial
from runner.errors import UserError
from runner.servers.remote import check_tracking_scheme
from runner.servers.secrets import mask_text, mask_url, url_password

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

KIND_TAG = "specsweep.kind"
REPORT_ARTIFACT_PATH = "report"
# A tracking server that does not answer must fail in seconds, not after MLflow's default
# 7 retries with exponential backoff (minutes). Users can still override both in the environment.
HTTP_FAIL_FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# Not config values: they identify the run, so they never count as swept.
_NOT_SWEPT = {"seed"}
# What the learnable exp / PCEN compressions learned: written by runner.train.artifacts, read here.
FRONTEND_PARAMS_ARTIFACT = "frontend_params.json"
# What produced a run (runner.tracking.trial_runs.environment): the machine its time was measured on.
ENV_ARTIFACT = "env.json"


def connect(tracking_uri: str) -> MlflowClient:
    """An `MlflowClient` for `tracking_uri` that has answered one request.

    A local store that does not exist is refused rather than created (MLflow would silently make
    an empty `mlflow.db`, and the user would then read "unknown experiment").
    """
    from mlflow.tracking import MlflowClient

    check_tracking_scheme(tracking_uri)
    _check_local_store(tracking_uri)
    # One preview download per configuration: no progress bar for each.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if tracking_uri.startswith(("http://", "https://")):
        for name, value in HTTP_FAIL_FAST.items():
            os.environ.setdefault(name, value)
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as err:  # MlflowException, requests' ConnectionError, SQLAlchemy errors...
        raise UserError(
            f"tracking URI {mask_url(tracking_uri)}: does not answer "
            f"({mask_text(_first_line(err), [url_password(tracking_uri)])}); check the URI "
            "(--tracking-uri or tracking.uri in the sweep file) and that the server is running"
        ) from err
    return client


def _check_local_store(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        what = "database file"
    elif tracking_uri.startswith("file:"):
        path = Path(tracking_uri.removeprefix("file://").removeprefix("file:"))
        what = "directory"
    elif "://" not in tracking_uri:
        path, what = Path(tracking_uri), "directory"
    else:
        return
    if not path.exists():
        raise UserError(
            f"tracking URI {tracking_uri}: no MLflow store there ({what} {path} does not exist); "
            "run the sweep first (make sweep) or pass the store it used with --tracking-uri"
        )


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else type(err).__name__
    return text if len(text) <= 240 else text[:240] + "…"


def find_experiment(client: MlflowClient, name: str):
    """The experiment called `name`, or a UserError listing the ones there are."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "active":
        return experiment
    names = sorted(e.name for e in client.search_experiments(max_results=1000))
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    known = ", ".join(repr(n) for n in names[:20]) or "none"
    raise UserError(
        f"experiment {name!r}: not found in {client.tracking_uri}; {hint}experiments there: "
        f"{known}. Pass --experiment NAME, or the sweep file whose name (or tracking.experiment) "
        "it is"
    )


def read_sweep(client: MlflowClient, experiment_name: str) -> SweepTable:
    """Every trial run of `experiment_name` as a `SweepTable`, previews included.

    When a trial (cfg_key, seed) was attempted more than once, its row is the finished run if
    there is one, else the latest attempt; `attempts` counts them.
    """
    experiment = find_experiment(client, experiment_name)
    runs = _search_all(client, experiment.experiment_id, f"tags.`{KIND_TAG}` = 'trial'")
    if not runs:
        raise UserError(
            f"experiment {experiment_name!r} in {client.tracking_uri}: no trial runs yet; start "
            "the sweep (make sweep, or specsweep run SWEEP.yaml) and report when trials finish"
        )
    swept_keys = _swept_keys(runs)
    eval_sets = _eval_sets(runs)

    by_trial: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        by_trial.setdefault((_cfg_key(run), _seed(run)), []).append(run)
    trials = [
        _trial(client, _representative(group), len(group), swept_keys, eval_sets)
        for group in by_trial.values()
    ]
    trials.sort(key=lambda t: (t.cfg_key, t.seed))
    finished = [r for r in map(_representative, by_trial.values()) if status_of(r) == "finished"]
    return SweepTable(
        experiment=experiment_name,
        swept_keys=swept_keys,
        eval_sets=eval_sets,
        trials=tuple(trials),
        previews=_previews(client, by_trial),
        source=f"experiment {experiment_name!r} at {client.tracking_uri}",
        fixed=_fixed_settings(finished, swept_keys),
        machines=_machines(client, finished),
    )


def _search_all(client: MlflowClient, experiment_id: str, filter_string: str) -> list[Run]:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def parse_param(text: str) -> Any:
    """An MLflow param string back to the value the config held: `na` -> None, JSON lists ->
    tuples, `true`/`True` -> True, numbers -> int or float, anything else stays a string."""
    if text == "na":
        return None
    if text in ("true", "True", "false", "False"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return _tuples(json.loads(text))
        except json.JSONDecodeError:
            pass
    return text


def _tuples(value: Any) -> Any:
    """JSON lists as tuples, recursively, so swept values are hashable and compare equal."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _swept_keys(runs: list[Run]) -> tuple[str, ...]:
    """The `swept` tag (grid order), united over runs; without it, the params that vary."""
    keys: list[str] = []
    for run in runs:
        tag = run.data.tags.get("swept")
        if tag:
            keys += [k for k in json.loads(tag) if k not in keys]
    if keys:
        return tuple(keys)
    names = sorted({k for run in runs for k in run.data.params} - _NOT_SWEPT)
    return tuple(k for k in names if len({run.data.params.get(k) for run in runs}) > 1)


def _eval_sets(runs: list[Run]) -> tuple[str, ...]:
    """Evaluation set names from `map_<set>` / `val_map_<set>` metric keys, in the order the
    config lists them when a param holds that list (e.g. `eval.sets`), else alphabetically."""
    found = set()
    for run in runs:
        for key in run.data.metrics:
            if key.startswith("map_over_prior_"):  # MAP / label-prior MAP, not a set's MAP
                continue
            for prefix in ("map_", "val_map_"):
                if key.startswith(prefix):
                    found.add(key.removeprefix(prefix))
    for run in runs[:1]:
        for key, text in run.data.params.items():
            if key.startswith("eval.") and text.startswith("["):
                listed = parse_param(text)
                if isinstance(listed, tuple) and found <= set(listed):
                    return tuple(s for s in listed if s in found)
    return tuple(sorted(found))


def _cfg_key(run: Run) -> str:
    return run.data.tags.get("cfg_key") or run.info.run_id


def _seed(run: Run) -> int:
    text = run.data.tags.get("seed", run.data.params.get("seed", "0"))
    try:
        return int(text)
    except ValueError:
        return 0


def _attempt(run: Run) -> int:
    try:
        return int(run.data.tags.get("attempt", "1"))
    except ValueError:
        return 1


def _representative(group: list[Run]) -> Run:
    finished = [r for r in group if r.info.status == "FINISHED"]
    return max(finished or group, key=lambda r: (_attempt(r), r.info.start_time or 0))


def status_of(run: Run) -> str:
    """MLflow's run status as a report status (see `reports.table.STATUSES`)."""
    status = run.info.status
    if status == "FINISHED":
        return "finished"
    if status == "FAILED":
        return "failed"
    if status == "KILLED":
        return "pruned" if run.data.tags.get("reason") == "pruned" else "killed"
    return "running"  # RUNNING, SCHEDULED


def _trial(client, run: Run, n_runs: int, swept_keys, eval_sets) -> Trial:
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    seed = _seed(run)
    name = tags.get("trial_name") or (run.info.run_name or run.info.run_id).removesuffix(
        f"-s{seed}"
    )
    curves = {}
    for s in eval_sets:
        if f"val_map_{s}" in metrics:
            history = client.get_metric_history(run.info.run_id, f"val_map_{s}")
            curves[s] = tuple(sorted((int(m.step), float(m.value)) for m in history))
    status = status_of(run)
    return Trial(
        run_id=run.info.run_id,
        name=name,
        cfg_key=_cfg_key(run),
        seed=seed,
        status=status,
        swept={k: parse_param(params[k]) if k in params else None for k in swept_keys},
        # A run that failed after evaluating has map_ metrics, but a failed trial has no result.
        map={s: metrics[f"map_{s}"] for s in eval_sets if f"map_{s}" in metrics}
        if status == "finished"
        else {},
        train_time_s=metrics.get("train_time_s") if status == "finished" else None,
        reason=tags.get("reason") if status != "finished" else None,
        attempts=max(n_runs, _attempt(run)),
        metrics={k: v for k, v in metrics.items() if not k.startswith("val_map_")},
        curves=curves,
        frontend_params=_frontend_params(client, run.info.run_id) if status == "finished" else {},
    )


def _fixed_settings(finished: list[Run], swept_keys) -> dict[str, Any]:
    """The config values every finished trial shares (params equal in all of them, not swept)."""
    if not finished:
        return {}
    first = finished[0].data.params
    return {
        k: parse_param(v)
        for k, v in sorted(first.items())
        if k not in swept_keys and k not in _NOT_SWEPT
        if all(r.data.params.get(k) == v for r in finished)
    }


def _machines(client: MlflowClient, finished: list[Run]) -> tuple[dict[str, Any], ...]:
    """The machines the finished trials' training times were measured on, from each run's
    `env.json`: host, CPU model, cores, device, GPU, torch threads per trial; with how many trials
    ran on it and the most that ran at once there (from the runs' start and end times)."""
    groups: dict[tuple, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="specsweep-env-") as tmp:
        for run in finished:
            env = _artifact_json(client, run.info.run_id, ENV_ARTIFACT, tmp)
            if env:
                key = tuple(env.get(k) for k in _MACHINE_KEYS)
                groups.setdefault(key, []).append(run)
    by_host: dict[Any, list[Run]] = {}
    for key, group in groups.items():
        by_host.setdefault(key[0], []).extend(group)
    return tuple(
        {
            **dict(zip(_MACHINE_KEYS, key)),
            "trials": len(group),
            "at_once": _most_at_once(by_host[key[0]]),
        }
        for key, group in groups.items()
    )


_MACHINE_KEYS = ("hostname", "cpu", "cpu_count", "device", "gpu", "torch_threads")


def _most_at_once(runs: list[Run]) -> int:
    """The most runs that were running at the same moment (a sweep over their start/end times)."""
    events = sorted(
        (t, step)
        for r in runs
        if r.info.start_time and r.info.end_time
        for t, step in ((r.info.start_time, 1), (r.info.end_time, -1))
    )  # an end before a start at the same millisecond: -1 sorts first
    most = running = 0
    for _, step in events:
        running += step
        most = max(most, running)
    return most


def _artifact_json(client: MlflowClient, run_id: str, path: str, tmp: str) -> dict:
    """A run's JSON artifact at `path`, or {} when it has none."""
    if not any(f.path == path for f in client.list_artifacts(run_id)):
        return {}
    local = client.download_artifacts(run_id, path, str(Path(tmp) / run_id))
    return json.loads(Path(local).read_text())


def _frontend_params(client: MlflowClient, run_id: str) -> dict:
    """The run's `frontend_params.json` (runner.train.artifacts), or {} when it logged none."""
    with tempfile.TemporaryDirectory(prefix="specsweep-params-") as tmp:
        return _artifact_json(client, run_id, FRONTEND_PARAMS_ARTIFACT, tmp)


def _previews(client: MlflowClient, by_trial: dict[tuple[str, int], list[Run]]) -> dict:
    """cfg_key -> `preview.npy` of one of its runs (finished ones first, lowest seed first)."""
    candidates: dict[str, list[Run]] = {}
    for (cfg_key, _), group in sorted(by_trial.items(), key=lambda kv: kv[0]):
        candidates.setdefault(cfg_key, []).extend(group)
    previews = {}
    with tempfile.TemporaryDirectory(prefix="specsweep-previews-") as tmp:
        for cfg_key, group in candidates.items():
            group.sort(key=lambda r: r.info.status != "FINISHED")
            for run in group:
                image = _load_preview(client, run.info.run_id, Path(tmp))
                if image is not None:
                    previews[cfg_key] = image
                    break
    return previews


def _load_preview(client: MlflowClient, run_id: str, tmp: Path) -> np.ndarray | None:
    if not any(f.path == "preview.npy" for f in client.list_artifacts(run_id)):
        return None
    local = client.download_artifacts(run_id, "preview.npy", str(tmp / run_id))
    image = np.load(local, allow_pickle=False)
    return image.astype(np.float32) if image.ndim in (2, 3) else None


def log_report(client: MlflowClient, experiment_name: str, files: Iterable[Path]) -> str:
    """Log `files` under `report/` in the sweep's summary run (the latest run tagged
    `specsweep.kind=summary`; created, named `summary`, when there is none). Returns its id."""
    experiment = find_experiment(client, experiment_name)
    summaries = _search_all(client, experiment.experiment_id, f"tags.`{KIND_TAG}` = 'summary'")
    if summaries:
        run_id = max(summaries, key=lambda r: r.info.start_time or 0).info.run_id
    else:
        run = client.create_run(
            experiment.experiment_id,
            run_name="summary",
            tags={KIND_TAG: "summary", "sweep": experiment_name},
        )
        run_id = run.info.run_id
        client.set_terminated(run_id, "FINISHED")
    for path in files:
        client.log_artifact(run_id, str(path), REPORT_ARTIFACT_PATH)
    return run_id
