"""What each configuration costs at inference (the `infer_*` metrics a trial logs, measured once
per configuration on the machine that trained it): the cost table and the "best value" takeaway.

    cost_of(trial.metrics)                   # {metric: value} of the COLUMNS present
    best_value(configs, "test")              # "X reaches 0.98 of the best MAP at 0.4x ..." or None
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

LATENCY = "infer_cpu_latency_ms"
# metric -> (column title, format)
COLUMNS = {
    LATENCY: ("CPU latency per clip (ms, batch 1, 1 thread)", "{:.2f}"),
    "infer_throughput_clips_s": ("throughput (clips/s, training batch and device)", "{:.0f}"),
    "infer_macs_per_clip": ("MACs per clip (M)", "{:.1f}"),
    "infer_params": ("parameters (M)", "{:.2f}"),
    "infer_model_mb": ("weights (MB)", "{:.1f}"),
    "infer_peak_mb": ("peak memory (MB, batch 1)", "{:.1f}"),
}
_MILLIONS = {"infer_macs_per_clip", "infer_params"}
# A cheaper configuration is called the better value only when it keeps this share of the best
# MAP at no more than this share of its latency (timings move by ~10% between runs).
MAP_SHARE = 0.95
LATENCY_SHARE = 0.75


def cost_of(metrics: Mapping[str, float]) -> dict[str, float]:
    """The cost metrics in `metrics` (empty when the run was not measured)."""
    return {k: float(metrics[k]) for k in COLUMNS if k in metrics} if LATENCY in metrics else {}


def cost_cells(cost: Mapping[str, float]) -> tuple[str, ...]:
    cells = []
    for key, (_, fmt) in COLUMNS.items():
        value = cost.get(key)
        scale = 1e6 if key in _MILLIONS else 1.0
        cells.append("" if value is None else fmt.format(value / scale))
    return tuple(cells)


def best_value(configs: Sequence, eval_set: str) -> str | None:
    """The takeaway when a configuration near the best MAP runs much faster than the best one;
    None when no configuration qualifies (or the costs were not measured)."""
    measured = [c for c in configs if c.cost and c.has(eval_set)]
    if len(measured) < 2:
        return None
    best = max(measured, key=lambda c: c.map_mean(eval_set))
    top, slow = best.map_mean(eval_set), best.cost[LATENCY]
    if top <= 0 or slow <= 0:
        return None
    cheaper = [
        c
        for c in measured
        if c.map_mean(eval_set) >= MAP_SHARE * top and c.cost[LATENCY] <= LATENCY_SHARE * slow
    ]
    if not cheaper:
        return None
    pick = min(cheaper, key=lambda c: c.cost[LATENCY])
    share, ratio = pick.map_mean(eval_set) / top, pick.cost[LATENCY] / slow
    return (
        f"Best value: {pick.label} reaches {share:.2f} of the best MAP on {eval_set} "
        f"({pick.map_mean(eval_set):.3f} vs {top:.3f}, {best.label}) at {ratio:.2f}x its CPU "
        f"latency ({pick.cost[LATENCY]:.2f} vs {slow:.2f} ms per clip, batch 1, one thread)."
    )
