"""The sweep's page in the MLflow UI: opened on the runs, sorted by MAP, the answer on top.

    prepare(client, experiment_id, eval_sets, swept_keys, log_model=..., register_as=...)
    runs_url("http://127.0.0.1:5000", experiment_id)                 # ranked runs
    runs_url("http://127.0.0.1:5000", experiment_id, grouped=True)   # mean over seeds per config
    runs_link(tracking_uri, experiment_id)     # the same for a sweep's store, as printed
    write_description(client, experiment_id, markdown)               # the experiment's description
    ensure_experiment(tracking_uri, name)      # before any child starts: its id
    close_runs(tracking_uri, experiment_id, cfg_key, seed, attempt, "FAILED", "killed")

What MLflow 3.17's UI reads, and how it is used here:

- `?workflowType=machine_learning` in the URL: the UI's "Machine learning" mode (runs, metrics)
  instead of its GenAI default (traces, latency, tokens); the experiment tag
  `mlflow.experimentKind = custom_model_development` says the same for the experiment list.
- `?viewStateShareKey=KEY`: the UI loads the runs table's state from the experiment tag
  `mlflow.sharedViewState.KEY` (JSON: sort `orderByKey`/`orderByAsc`, `selectedColumns`,
  `groupBy`, and the search box's `searchFilter`), the mechanism behind the UI's own "Share"
  button. Two views are stored: `specsweep`
  (runs by MAP on the first evaluation set, with MAP per set, training time and the swept values
  as columns) and `specsweep-by-config` (the same, grouped by the `config` tag: each row is a
  configuration with the mean over its seeds); both filter out the sweep's summary run
  (`TRIALS_ONLY`), so the UI counts the trials alone.
- `mlflow.note.content`: the experiment's description (Markdown), shown above the runs;
  `specsweep report` writes the takeaways and the report's link there.

`ensure_experiment` and `close_runs` are the sweep supervisor's housekeeping of the same
experiment: creating it before any child starts, and ending the runs of a child that died
without ending its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Where `specsweep ui` (and `make ui`) serves the UI of a local store.
UI_HOST = "127.0.0.1"
UI_PORT = 5000
UI_URL = f"http://{UI_HOST}:{UI_PORT}"

VIEW_RUNS = "specsweep"
# Both views list the trials only, as `runs.read_sweep` reads them: the sweep's summary run
# (`specsweep.kind=summary`, holding the report) is not a trial.
TRIALS_ONLY = "tags.`specsweep.kind` = 'trial'"
VIEW_BY_CONFIG = "specsweep-by-config"
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
DESCRIPTION_TAG = "mlflow.note.content"
KIND_TAG = "mlflow.experimentKind"
KIND_ML = "custom_model_development"


def column(kind: str, key: str) -> str:
    """A runs-table column id as the UI spells it: metrics.`map_test`, params.`frontend.scale`."""
    return f"{kind}.`{key}`"


def view_state(eval_sets: Sequence[str], swept_keys: Sequence[str], grouped: bool) -> dict:
    """The runs table: sorted by MAP on the first set, best first; the answer's columns."""
    columns = [column("metrics", f"map_{s}") for s in eval_sets]
    columns.append(column("metrics", "train_time_s"))
    columns += [column("params", k) for k in swept_keys]
    columns += [column("tags", "config"), column("attributes", "models")]
    state = {
        "orderByKey": column("metrics", f"map_{eval_sets[0]}") if eval_sets else "",
        "orderByAsc": False,
        "searchFilter": TRIALS_ONLY,
        "selectedColumns": columns,
        "runListHidden": False,
        "groupBy": None,
    }
    if grouped:
        state["groupBy"] = {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "tag", "groupByData": "config"}],
        }
        state["groupsExpanded"] = {}
    return state


def prepare(
    client: MlflowClient,
    experiment_id: str,
    eval_sets: Sequence[str],
    swept_keys: Sequence[str],
    *,
    log_model: str | None = None,
    register_as: str | None = None,
    onnx: bool = False,
) -> None:
    """Tag the experiment: ML (not GenAI) kind, the two runs views, the model settings."""
    from runner.tracking.logged_models import EXP_TAG_LOG_MODEL, EXP_TAG_ONNX, EXP_TAG_REGISTER_AS

    tags = {
        KIND_TAG: KIND_ML,
        SHARED_VIEW_PREFIX + VIEW_RUNS: json.dumps(view_state(eval_sets, swept_keys, False)),
        SHARED_VIEW_PREFIX + VIEW_BY_CONFIG: json.dumps(view_state(eval_sets, swept_keys, True)),
    }
    if log_model is not None:
        tags[EXP_TAG_LOG_MODEL] = log_model
        tags[EXP_TAG_REGISTER_AS] = register_as or ""
        tags[EXP_TAG_ONNX] = "true" if onnx else "false"
    for key, value in tags.items():
        client.set_experiment_tag(experiment_id, key, value)


def runs_path(experiment_id: str, grouped: bool = False) -> str:
    """The UI's route (after `#`) to the experiment's runs in one of the stored views."""
    view = VIEW_BY_CONFIG if grouped else VIEW_RUNS
    return (
        f"/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={view}"
    )


def runs_url(base_url: str, experiment_id: str, grouped: bool = False) -> str:
    return f"{base_url.rstrip('/')}/#{runs_path(experiment_id, grouped)}"


def runs_link(tracking_uri: str, experiment_id: str) -> str:
    """Where the UI shows the runs: the server's own URL, or `make ui`'s for a local store
    (any password in the URL masked)."""
    from runner.servers.secrets import mask_url

    base = tracking_uri if tracking_uri.startswith(("http://", "https://")) else UI_URL
    hint = "" if base == tracking_uri else " (after `make ui`)"
    return runs_url(mask_url(base), experiment_id) + hint


def artifact_path(experiment_id: str, run_id: str, path: str) -> str:
    """The UI's route to one artifact of a run (shown in the run's artifact viewer)."""
    return (
        f"/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}?workflowType=machine_learning"
    )


def description(
    experiment: str,
    takeaways: Sequence[str],
    experiment_id: str,
    summary_run_id: str | None,
    status_line: str,
    models_line: str | None = None,
) -> str:
    """The experiment's description (Markdown): the answer first (the UI shows the first
    paragraph until the description is expanded), then every takeaway and the links."""
    headline = takeaways[0] if takeaways else "No trial has finished yet."
    lines = [f"**{headline}** specsweep sweep `{experiment}`: {status_line}", ""]
    lines += [f"- {t}" for t in takeaways[1:]]
    if models_line:
        lines += ["", models_line]
    lines.append("")
    links = [
        f"[runs by MAP](#{runs_path(experiment_id)})",
        f"[mean over seeds per configuration](#{runs_path(experiment_id, grouped=True)})",
    ]
    if summary_run_id:
        report = artifact_path(experiment_id, summary_run_id, "report/report.html")
        links.insert(0, f"[the full report (report.html)](#{report})")
    lines.append(" · ".join(links))
    lines.append("")
    lines.append("_Written by `specsweep report`; rewritten each time it runs._")
    return "\n".join(lines) + "\n"


def write_description(client: MlflowClient, experiment_id: str, text: str) -> None:
    client.set_experiment_tag(experiment_id, DESCRIPTION_TAG, text)


def ensure_experiment(tracking_uri: str, name: str) -> str:
    """Create the store and the experiment before any child starts (N children creating a SQLite
    store's tables at once is how runs get lost); returns the experiment id."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:  # another supervisor created it meanwhile
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def close_runs(
    tracking_uri: str,
    experiment_id: str,
    cfg_key: str,
    seed: int,
    attempt: int,
    status: str,
    reason: str,
) -> int:
    """End the RUNNING MLflow runs of one attempt (its child died without ending them), tagged
    with `reason`; returns how many there were."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.cfg_key = '{cfg_key}' and tags.seed = '{seed}' and tags.attempt = '{attempt}'"
            " and attributes.status = 'RUNNING'"
        ),
    )
    for run in runs:
        client.set_tag(run.info.run_id, "reason", reason)
        client.set_terminated(run.info.run_id, status=status)
    return len(runs)
