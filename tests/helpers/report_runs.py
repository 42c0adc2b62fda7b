"""Real MLflow runs logged by hand, the way runner.train.trial logs them (not a test module).

The experiments the report tests read: a Merlin-Part-1-like grid (12 configurations x 2 seeds x
2 evaluation sets), a partial sweep (running, failed, pruned and retried trials), a one-seed
one-set sweep, an empty one. The MAPs and times are shaped like the Merlin study's findings, so
the tests can recompute every difference by hand (`plausible_result`).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from helpers.merlin import MERLIN_PART1_KEYS as SWEPT  # the swept keys, in the grid's order
from helpers.merlin import merlin_part1_grid as merlin_grid  # the Merlin study's 12 configurations

SETS = ("test", "swamp")


def _digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def plausible_result(cfg: dict, eval_set: str, seed: int) -> tuple[float, float]:
    """(MAP, training time in s) shaped like the Merlin study's findings: mel and the longer window win,
    high resolution is slower and worse; seed noise std 0.010 (test) / 0.017 (swamp)."""
    base = {"test": 0.70, "swamp": 0.42}[eval_set]
    m = base + (0.04 if cfg["frontend.scale"] == "mel" else 0.0)
    m += 0.015 if cfg["frontend.win_length"] == 512 else 0.0
    size = tuple(cfg["frontend.image_size"])
    m += {(128, 1024): -0.02, (96, 512): -0.008, (128, 512): 0.0}[size]
    rng = np.random.default_rng(int(_digest(cfg, eval_set, seed)[:8], 16))
    m += rng.normal(0.0, 0.010 if eval_set == "test" else 0.017)
    minutes = {(128, 1024): 78.0, (96, 512): 31.0, (128, 512): 40.0}[size]
    minutes *= 1.03 if cfg["frontend.scale"] == "mel" else 1.0
    minutes *= 1.0 + rng.normal(0.0, 0.02)
    return float(m), float(minutes * 60)


def preview_image(cfg: dict) -> np.ndarray:
    """A real spectrogram of a synthetic bird call (two chirps in noise) for this configuration:
    STFT with its window and hop, its frequency scale, dB, resized to its image size.
    Returns (1, H, W) float32 in [0, 1]."""
    sr, win, hop = 22050, cfg["frontend.win_length"], cfg["frontend.hop_length"]
    t = np.arange(int(3.0 * sr)) / sr
    rng = np.random.default_rng(0)
    call = np.zeros_like(t)
    for start, f0, f1 in ((0.4, 3000, 6500), (1.3, 6000, 2500), (2.2, 4000, 8000)):
        mask = (t >= start) & (t < start + 0.45)
        tt = t[mask] - start
        call[mask] = np.sin(2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / 0.9)) * np.hanning(
            mask.sum()
        )
    audio = call + 0.05 * rng.standard_normal(t.size)
    frames = np.lib.stride_tricks.sliding_window_view(audio, win)[::hop] * np.hanning(win)
    power = np.abs(np.fft.rfft(frames, axis=1)).T ** 2  # (freq, time)
    freqs = np.fft.rfftfreq(win, 1 / sr)
    height, width = cfg["frontend.image_size"]
    if cfg["frontend.scale"] == "mel":
        mel = np.linspace(0, 2595 * np.log10(1 + (sr / 2) / 700), height)
        rows = 700 * (10 ** (mel / 2595) - 1)
    else:
        rows = np.linspace(0, sr / 2, height)
    image = np.stack([np.interp(rows, freqs, col) for col in power.T], axis=1)  # (H, frames)
    image = 10 * np.log10(np.maximum(image, 1e-6))
    cols = np.linspace(0, image.shape[1] - 1, width)
    image = np.stack([np.interp(cols, np.arange(image.shape[1]), row) for row in image])
    image = (image - image.min()) / (image.max() - image.min())
    return image[None].astype(np.float32)


def trial_name(cfg: dict) -> str:
    h, w = cfg["frontend.image_size"]
    return f"w{cfg['frontend.win_length']}-h{cfg['frontend.hop_length']}-{cfg['frontend.scale']}-{h}x{w}"


def log_trial(
    client,
    experiment_id: str,
    tmp: Path,
    cfg: dict,
    seed: int,
    *,
    sweep: str,
    maps: dict[str, float] | None,
    train_time_s: float | None,
    status: str = "FINISHED",
    reason: str | None = None,
    attempt: int = 1,
    epochs: int = 6,
    preview: bool = True,
    swept: tuple[str, ...] = SWEPT,
) -> str:
    """One trial run as runner.train.trial writes it; returns its run id."""
    from mlflow.entities import Metric, Param

    name = trial_name(cfg) if set(SWEPT) <= set(cfg) else "-".join(str(v) for v in cfg.values())
    tags = {
        "specsweep.kind": "trial",
        "sweep": sweep,
        "cfg_key": _digest(cfg)[:12],
        "seed": str(seed),
        "attempt": str(attempt),
        "trial_name": name,
        "swept": json.dumps(list(swept)),
    }
    if reason:
        tags["reason"] = reason
    run = client.create_run(experiment_id, run_name=f"{name}-s{seed}", tags=tags)
    run_id = run.info.run_id
    params = {
        "frontend.sample_rate": "22050",
        "frontend.n_fft": "na",
        "frontend.compression": "db",
        "model.name": "resnet18",
        "eval.sets": json.dumps(list(SETS)),
        "seed": str(seed),
    }
    params.update(
        {k: json.dumps(list(v)) if isinstance(v, tuple) else str(v) for k, v in cfg.items()}
    )
    metrics = []
    done_epochs = epochs if maps is not None else 2
    for epoch in range(1, done_epochs + 1):
        for s in SETS if maps is None else maps:
            final = (maps or {}).get(s, 0.5)
            value = final * (1 - 0.6 * math.exp(-epoch / 1.5))
            metrics.append(Metric(f"val_map_{s}", value, 1000 + epoch, epoch))
        metrics.append(Metric("train_loss", 1.0 / epoch, 1000 + epoch, epoch))
    for s, value in (maps or {}).items():
        metrics.append(Metric(f"map_{s}", value, 2000, 0))
        metrics.append(Metric(f"micro_ap_{s}", value + 0.05, 2000, 0))
    if train_time_s is not None:
        metrics.append(Metric("train_time_s", train_time_s, 2000, 0))
        metrics.append(Metric("samples_per_s", 1e5 / train_time_s, 2000, 0))
    client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()])
    if preview:
        path = tmp / f"{run_id}-preview" / "preview.npy"
        path.parent.mkdir()
        np.save(path, preview_image(cfg) if set(SWEPT) <= set(cfg) else np.random.rand(1, 8, 16))
        client.log_artifact(run_id, str(path))
    if status != "RUNNING":
        client.set_terminated(run_id, status)
    return run_id


def log_merlin(client, experiment: str, tmp: Path, seeds=(0, 1), sets=SETS) -> str:
    experiment_id = client.create_experiment(experiment)
    for cfg in merlin_grid():
        for seed in seeds:
            maps = {}
            for s in sets:
                maps[s], time_s = plausible_result(cfg, s, seed)
            log_trial(
                client,
                experiment_id,
                tmp,
                cfg,
                seed,
                sweep=experiment,
                maps=maps,
                train_time_s=time_s,
            )
    return experiment_id


def log_experiments(client, tmp: Path) -> None:
    """The experiments the tests read: merlin, single, partial, empty."""
    log_merlin(client, "merlin", tmp)
    log_merlin(client, "single", tmp, seeds=(7,), sets=("test",))

    # Partial: 4 configurations x 2 seeds, in every state a sweep can leave a trial in.
    partial = client.create_experiment("partial")
    unfinished = {
        (0, 1): {"status": "FAILED", "reason": "nan_loss"},
        (1, 1): {"status": "RUNNING", "preview": False},
        (2, 1): {"status": "KILLED", "reason": "pruned"},
        (3, 0): {"status": "FAILED", "reason": "oom", "attempt": 1},  # then retried
    }
    for i, cfg in enumerate(merlin_grid()[6:10]):
        for seed in (0, 1):
            if (i, seed) in unfinished:
                log_trial(
                    client,
                    partial,
                    tmp,
                    cfg,
                    seed,
                    sweep="partial",
                    maps=None,
                    train_time_s=None,
                    **unfinished[(i, seed)],
                )
            if (i, seed) not in unfinished or (i, seed) == (3, 0):
                log_trial(
                    client,
                    partial,
                    tmp,
                    cfg,
                    seed,
                    sweep="partial",
                    maps={"test": 0.7 + 0.01 * i + 0.002 * seed},
                    train_time_s=600.0 + 10 * i,
                    attempt=2 if (i, seed) == (3, 0) else 1,
                )
    client.create_experiment("empty")
