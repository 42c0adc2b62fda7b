"""System metrics of one trial's run, through MLflow's own monitor (`system/...` metrics).

    monitor = start(run_id, tracking_uri, interval_s=10.0)   # a daemon thread
    ...
    stop(monitor)

Every `interval_s` MLflow's `SystemMetricsMonitor` logs the machine's CPU utilisation and memory
(psutil), disk and network, and, where nvidia-ml-py finds a GPU, its utilisation, memory and power
as `system/gpu_<i>_...`. NVML numbers every GPU of the node and ignores `CUDA_VISIBLE_DEVICES`, so
the GPUs are narrowed here to the ones this trial's process may use: under the supervisor, one
GPU, logged as `gpu_0` (the trial's own `cuda:0`). CPU and memory are the whole machine's, shared
by the slots running on it.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def start(run_id: str, tracking_uri: str, interval_s: float):
    """Start logging system metrics into `run_id`; None when `interval_s` is 0 or it cannot."""
    if interval_s <= 0:
        return None
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError as err:  # psutil missing: the run goes on without system metrics
        log.warning("system metrics off: %s (install psutil)", err)
        return None
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    monitor = SystemMetricsMonitor(
        run_id, sampling_interval=interval_s, samples_before_logging=1, tracking_uri=tracking_uri
    )
    for gpu in [m for m in monitor.monitors if type(m).__name__ == "GPUMonitor"]:
        _only_visible_gpus(gpu)
    monitor.start()
    return monitor


def stop(monitor) -> None:
    """Stop the monitor and log what it still holds."""
    if monitor is not None:
        monitor.finish()


def _only_visible_gpus(gpu_monitor) -> None:
    """Keep the NVML handles of the GPUs CUDA_VISIBLE_DEVICES lets this process use."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return
    try:
        import pynvml
    except ImportError:
        return
    wanted = [v.strip() for v in visible.split(",") if v.strip()]
    handles = []
    for name in wanted:
        try:
            if name.isdigit():
                handles.append(pynvml.nvmlDeviceGetHandleByIndex(int(name)))
            else:  # GPU-<uuid> / MIG-<uuid>
                handles.append(pynvml.nvmlDeviceGetHandleByUUID(name))
        except pynvml.NVMLError:
            continue
    gpu_monitor.gpu_handles = handles
    gpu_monitor.num_gpus = len(handles)
