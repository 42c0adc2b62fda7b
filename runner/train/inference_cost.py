"""What a trained configuration costs to run: measured once per configuration, on the machine that
trained it, logged to its MLflow run (and so in the report's table.csv).

    cost = measure(scorer, batch_size=32, device=torch.device("cuda"))
    cost["infer_cpu_latency_ms"]   # one clip, batch 1, one CPU thread: the phone proxy

| metric | what |
| --- | --- |
| `infer_params` | parameters (frontend and backbone) |
| `infer_macs_per_clip` | multiply-accumulates per clip, torch's flop counter / 2 (convolutions and matrix products; the FFT and elementwise ops are not counted) |
| `infer_model_mb` | the weights file (`torch.save` of the state dict), MB |
| `infer_cpu_latency_ms` | median wall time of one clip, batch 1, one CPU thread, frontend included |
| `infer_throughput_clips_s` | clips per second at the training batch size on the training device |
| `infer_peak_mb` | peak memory torch allocates for one clip (batch 1, CPU): the largest live total |

A trial measures at its end unless another run of its configuration has already (seeds share
the architecture); `specsweep report --measure-inference` fills in configurations that lack it
from their logged models.
"""

from __future__ import annotations

import copy
import io
import os
import statistics
import sys
import time
from contextlib import contextmanager

import torch

from runner.tracking.logged_models import make_scorer

LATENCY = "infer_cpu_latency_ms"
COST_METRICS = (
    "infer_params",
    "infer_macs_per_clip",
    "infer_model_mb",
    LATENCY,
    "infer_throughput_clips_s",
    "infer_peak_mb",
)
BUDGET_S = 1.0  # timing budget per measurement (at least MIN_RUNS runs)
MIN_RUNS = 5


@contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed_runs(fn, sync=lambda: None) -> list[float]:
    fn()  # warm-up: first-call allocations, lazy initialisation
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MIN_RUNS or time.perf_counter() - start < BUDGET_S:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return times


@contextmanager
def quiet_stderr():
    """The profiler's C++ library prints its start and stop lines on fd 2: not in a trial's log."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_allocated_mb(scorer, clip: torch.Tensor) -> float:
    """The largest total of live CPU allocations during one forward, MB: the running sum of the
    bytes each event allocated itself (torch's profiler with profile_memory), in time order."""
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        scorer(clip)
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak / 1e6


@torch.inference_mode()
def measure(scorer, *, batch_size: int, device: torch.device | str) -> dict[str, float]:
    """The cost metrics of `scorer` (a ClipScorer; not modified) -- see the module docstring."""
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(device)
    model = copy.deepcopy(scorer).float().cpu().eval()
    clip = 0.05 * torch.randn(1, model.clip_samples, generator=torch.Generator().manual_seed(0))
    out: dict[str, float] = {"infer_params": float(sum(p.numel() for p in model.parameters()))}
    with FlopCounterMode(display=False) as counter:
        model(clip)
    out["infer_macs_per_clip"] = counter.get_total_flops() / 2
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    out["infer_model_mb"] = buffer.tell() / 1e6
    with one_thread():
        out[LATENCY] = 1e3 * statistics.median(_timed_runs(lambda: model(clip)))
        out["infer_peak_mb"] = peak_allocated_mb(model, clip)
    model.to(device)
    batch = clip.to(device).repeat(batch_size, 1)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    out["infer_throughput_clips_s"] = batch_size / statistics.median(
        _timed_runs(lambda: model(batch), sync)
    )
    return out


def measured_already(tracking_uri: str, run_id: str, cfg_key: str) -> bool:
    """Has another run of configuration `cfg_key` in this run's experiment logged the cost?"""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    found = client.search_runs(
        [experiment_id],
        f"tags.cfg_key = '{cfg_key}' and metrics.{LATENCY} >= 0",
        max_results=1,
    )
    return bool(found)


def measure_trial(trial) -> dict[str, float]:
    """At the end of a finished trial (`runner.train.running.RunningTrial`): measure and log the
    cost unless its configuration has it already. A failure is logged, never fails the trial."""
    import logging

    log = logging.getLogger(__name__)
    tracker, spec = trial.tracker, trial.spec
    try:
        if measured_already(trial.tracking_uri, tracker.run_id, spec.cfg_key):
            return {}
        scorer = make_scorer(trial.model, trial.data.classes, trial.cfg)
        cost = measure(scorer, batch_size=trial.cfg.train.batch_size, device=trial.device)
    except Exception as err:  # a measurement is not worth a trial
        log.warning(
            "%s: inference cost not measured (%s: %s)", spec.run_name, type(err).__name__, err
        )
        return {}
    tracker.log_final(cost)
    return cost


def measure_logged_models(tracking_uri: str, experiment: str) -> list[str]:
    """`specsweep report --measure-inference`: each configuration with no cost yet and a logged
    model, measured here (this machine, its default device) and logged to that model's run.
    Returns one line per configuration measured or skipped."""
    import platform

    from mlflow import MlflowClient

    from runner.tracking.logged_models import TAG_MODEL_ID
    from runner.tracking.runs import KIND_TAG, find_experiment, search_all
    from runner.train.predict import load_scorer
    from runner.train.runtime import resolve_device

    client = MlflowClient(tracking_uri)
    exp = find_experiment(client, experiment)
    runs = search_all(client, exp.experiment_id, f"tags.`{KIND_TAG}` = 'trial'")
    done = {r.data.tags.get("cfg_key") for r in runs if LATENCY in r.data.metrics}
    device = resolve_device(None)
    lines, seen = [], set()
    for run in runs:
        cfg_key = run.data.tags.get("cfg_key")
        if cfg_key in done or cfg_key in seen or TAG_MODEL_ID not in run.data.tags:
            continue
        seen.add(cfg_key)
        scorer = load_scorer(f"runs:/{run.info.run_id}/model", tracking_uri)
        batch_size = int(run.data.params.get("train.batch_size", "32"))
        cost = measure(scorer, batch_size=batch_size, device=device)
        for key, value in cost.items():
            client.log_metric(run.info.run_id, key, value, step=0)
        lines.append(
            f"inference cost: {run.info.run_name}: {cost[LATENCY]:.2f} ms per clip on "
            f"{platform.node()} ({device} for the throughput)"
        )
    missing = {r.data.tags.get("cfg_key") for r in runs} - done - seen
    if missing:
        lines.append(
            f"inference cost: {len(missing)} configuration(s) without a logged model stay "
            "unmeasured (log_model: best or all logs one)"
        )
    return lines
