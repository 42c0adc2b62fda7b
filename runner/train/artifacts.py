"""What a finished trial logs beside its metrics: per-class AP tables, the preview, and what
the learnable compressions learned.

    log_per_class_tables(tracker, classes, results)      # per_class_ap_<set>.csv
    log_preview(tracker, model, dataset, classes, "test", device, "db-mel-s0")
    log_frontend_params(tracker, model.frontend)         # frontend_params.json (exp / PCEN only)

The preview figure is drawn by `reports.preview`; `runner.tracking` only logs the bytes.
"""

from __future__ import annotations

import json

import torch
from torch import nn

from runner.tracking.runs import FRONTEND_PARAMS_ARTIFACT
from runner.tracking.trial_runs import TrialTracker, per_class_csv
from runner.train.metrics import SetMetrics

PREVIEW_CLIPS = 4  # clips of the first evaluation set shown in preview.png


def log_per_class_tables(
    tracker: TrialTracker, classes: tuple[str, ...], results: dict[str, SetMetrics]
) -> None:
    """`per_class_ap_<set>.csv` for each evaluation set: class, AP, positives."""
    for name, r in results.items():
        tracker.log_text(
            f"per_class_ap_{name}.csv", per_class_csv(classes, r.per_class_ap, r.n_positive)
        )


def log_frontend_params(tracker: TrialTracker, frontend: nn.Module) -> None:
    """`frontend_params.json`: what the exp / PCEN compressions hold after training, per band
    where per band, beside their initial values and the bands' centre frequencies (nothing
    for a frontend without parameters, such as dB)."""
    from frontends.parameters import initial_parameter_summary, parameter_summary

    summary = parameter_summary(frontend)
    if not summary["compressions"]:
        return
    initial = initial_parameter_summary(frontend.cfg)
    for name, entry in summary["compressions"].items():
        entry["initial"] = initial.get(name, {})
    tracker.log_text(FRONTEND_PARAMS_ARTIFACT, json.dumps(summary, indent=1) + "\n")


@torch.inference_mode()
def log_preview(
    tracker: TrialTracker,
    model: nn.Module,
    dataset,
    classes: tuple[str, ...],
    set_name: str,
    device: torch.device,
    run_name: str,
) -> None:
    """The trained frontend's images of the first clips of evaluation set `set_name` (whose
    items are `dataset[i] = (waveform, multi-hot target)`): `preview.png` and `preview.npy`."""
    from reports.preview import preview_png  # matplotlib: loaded when a preview is drawn

    n = min(PREVIEW_CLIPS, len(dataset))
    items = [dataset[i] for i in range(n)]
    waveform = torch.stack([w for w, _ in items]).to(device)  # (n, samples)
    model.eval()
    images = model.frontend(waveform).float().cpu().numpy()  # (n, C, H, W)
    titles = []
    for i, (_, target) in enumerate(items):
        labels = [c for c, t in zip(classes, target.tolist()) if t > 0.5]
        titles.append(f"{set_name} clip {i}: {', '.join(labels) or 'no label'}")
    tracker.log_preview(preview_png(images, titles, f"{run_name}: frontend output"), images[0])
