"""Benchmark (issue 5): a trial's training throughput, full pipeline vs the backbone alone.

    .venv/bin/python benchmarks/bench_trial.py                      # demo sweep, trial 0, 1 thread
    .venv/bin/python benchmarks/bench_trial.py --index 2 --threads 2
    .venv/bin/python benchmarks/bench_trial.py --device cuda --model resnet50 --image-size 128 512 \\
        --channels 3 --batch-size 64                                # the seed's setting on a GPU (bf16)

Both measure SGD training steps (forward, BCE, backward, step) with the same batch size, image
size, model and precision, in one process, interleaved (A B A B ...) so the shared machine's load
hits both alike; medians over the repeats:

  full pipeline   `runner.train.loop.train_one_epoch` as a trial runs it: audio cache -> DataLoader
                  (random crops, waveform augmentations, and on a CPU the frozen frontend and
                  SpecAugment, see runner/train/pipeline.py) -> device -> (frontend -> SpecAugment) ->
                  backbone -> loss -> step; once per loader-worker count in --workers (0 = all
                  of it in the training process, one after the other)
  backbone alone  the same steps on images and targets already in memory on the device

overhead = 1 - full / backbone (target <= 5%). To say where any overhead goes, it also times
the loader alone (crops -> batches), the augmentations alone (waveform + mask draws) and the
frontend alone (forward, + backward when it learns).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.classifier import create_classifier
from runner.data import load_dataset, train_loader
from runner.sweep.grid import expand
from runner.sweep.load import load_sweep
from runner.tracking.trial_runs import cpu_model
from runner.train.augment import Augmenter
from runner.train.loop import Precision, make_optimizer, synchronize, train_one_epoch
from runner.train.pipeline import BatchPrep
from runner.train.runtime import configure_determinism, resolve_device


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sweep", default="sweeps/demo.yaml")
    p.add_argument("--index", type=int, default=0, help="trial of the sweep (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1, as a demo slot)"
    )
    p.add_argument("--model", help="override model.name")
    p.add_argument(
        "--image-size", type=int, nargs=2, metavar=("H", "W"), help="override frontend.image_size"
    )
    p.add_argument("--channels", type=int, help="override frontend.repeat_channels")
    p.add_argument("--batch-size", type=int, help="override train.batch_size")
    p.add_argument(
        "--workers", type=int, nargs="+", default=[0, 1],
        help="loader worker counts to time the full pipeline with (default: 0 1)",
    )  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median reported)")
    return p.parse_args(argv)


def configure(args):
    spec = expand(load_sweep(args.sweep))[args.index]
    cfg = spec.config
    frontend = cfg.frontend
    if args.image_size:
        frontend = dataclasses.replace(frontend, image_size=tuple(args.image_size))
    if args.channels:
        frontend = dataclasses.replace(frontend, repeat_channels=args.channels)
    model = dataclasses.replace(cfg.model, name=args.model) if args.model else cfg.model
    train = cfg.train
    if args.batch_size:
        train = dataclasses.replace(train, batch_size=args.batch_size)
    return spec, dataclasses.replace(cfg, frontend=frontend, model=model, train=train)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    spec, cfg = configure(args)
    configure_determinism(False, device)
    precision = Precision.for_device(cfg.train, device)
    data = load_dataset(cfg.data, cfg.frontend.sample_rate, tuple(cfg.eval.sets), seed=0)
    model = create_classifier(cfg.frontend, cfg.model, len(data.classes)).to(device)
    if precision.channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg.train)

    n_samples = data.train.clip_len
    prep = BatchPrep.for_training(
        cfg.train.augment, model.frontend, device, n_samples, precision.amp_dtype
    )
    batch_size = cfg.train.batch_size
    loaders = {
        w: train_loader(data.train, batch_size, seed=0, num_workers=w, prepare=prep)
        for w in args.workers
    }  # made once, as a trial does: the workers persist from epoch to epoch
    plain = train_loader(data.train, batch_size, seed=0, num_workers=0)

    # The backbone-alone input: this pipeline's own images (frontend output), kept on the device.
    cached = []
    with torch.no_grad():
        for waveform, target in plain:
            image = model.frontend(waveform.to(device))
            if precision.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            cached.append((image, target.to(device)))
    n_batches = len(cached)
    n_clips = sum(t.shape[0] for _, t in cached)
    image_shape = tuple(cached[0][0].shape[1:])

    def start(workers: int, epoch: int):
        loaders[workers].sampler.seed = epoch
        return iter(loaders[workers])

    # As a trial does, each epoch's iterator is started when the previous epoch ends, so the
    # workers make its first batches while the trial would evaluate and save (here: while the
    # other measurements run); one epoch's head start is prefetch_factor (2) batches per worker.
    upcoming = {w: start(w, 100) for w in args.workers}

    def full(workers: int, epoch: int) -> float:
        stats = train_one_epoch(
            model, upcoming[workers], optimizer, cfg.train, device, 0, precision
        )
        upcoming[workers] = start(workers, epoch + 1)
        return stats.samples / stats.time_s

    def backbone_alone(epoch: int) -> float:
        model.train()
        synchronize(device)
        start = time.perf_counter()
        for image, target in cached:
            with precision.autocast(device):
                logits = model.backbone(image)
            loss = F.binary_cross_entropy_with_logits(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        return n_clips / (time.perf_counter() - start)

    def loader_alone(epoch: int) -> float:
        plain.sampler.seed = epoch
        start = time.perf_counter()
        count = 0
        for waveform, _ in plain:
            count += waveform.to(device).shape[0]
        synchronize(device)
        return count / (time.perf_counter() - start)

    def augment_alone(epoch: int) -> float:
        plain.sampler.seed = epoch
        batches = list(plain)
        start = time.perf_counter()
        for b, (waveform, target) in enumerate(batches):
            augmenter = Augmenter(cfg.train.augment, np.random.default_rng([epoch, b]))
            augmenter.waveform(waveform, target)
            augmenter.masks(waveform.shape[0], *prep.image_hw)
        return n_clips / (time.perf_counter() - start)

    def frontend_alone(epoch: int) -> float:
        plain.sampler.seed = epoch
        waveforms = [w.to(device) for w, _ in plain]
        synchronize(device)
        start = time.perf_counter()
        for waveform in waveforms:
            image = model.frontend(waveform.requires_grad_(False))
            if any(p.requires_grad for p in model.frontend.parameters()):
                image.sum().backward()
        synchronize(device)
        return sum(w.shape[0] for w in waveforms) / (time.perf_counter() - start)

    for w in args.workers:  # warm-up: allocator, kernels, page cache, worker start
        full(w, 100)
    backbone_alone(100)
    parts = {"backbone": backbone_alone, "loader": loader_alone, "augment": augment_alone,
             "frontend": frontend_alone}  # fmt: skip
    results: dict[str, list[float]] = {f"full{w}": [] for w in args.workers}
    results.update({k: [] for k in parts})
    for r in range(args.repeats):
        for w in args.workers:
            results[f"full{w}"].append(full(w, r))
        for key, fn in parts.items():
            results[key].append(fn(r))
    med = {k: statistics.median(v) for k, v in results.items()}

    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{cpu_model() or platform.processor()}, {args.threads} thread(s)"
    )
    print(f"trial {spec.index} {spec.name}: model {cfg.model.name}, image {image_shape}, batch "
          f"{batch_size}, {n_batches} batches/epoch, amp {precision.amp_dtype}, channels_last "
          f"{precision.channels_last}, frontend in the "
          f"{'loader' if prep.runs_frontend else 'training step'}, on {where}")  # fmt: skip
    labels = {f"full{w}": f"full pipeline, {w} loader worker(s), train step" for w in args.workers}
    labels.update(
        backbone="backbone alone on in-memory images, train step",
        loader="loader alone (cache -> batches)",
        augment="augmentations alone (waveform + mask draws)",
        frontend="frontend alone (forward, + backward if learnable)",
    )
    for key, label in labels.items():
        runs = ", ".join(f"{v:.1f}" for v in results[key])
        print(f"  {label:62s} {med[key]:8.1f} samples/s  (runs: {runs})")
    for w in args.workers:
        overhead = 1 - med[f"full{w}"] / med["backbone"]
        print(f"  overhead of the pipeline with {w} worker(s) over the backbone alone: "
              f"{100 * overhead:.1f}% (target <= 5%)")  # fmt: skip
    print("  per sample: " + ", ".join(
        f"{k} {1e3 / med[k]:.2f} ms" for k in ("backbone", "frontend", "augment", "loader")
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
