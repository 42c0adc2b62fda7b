"""Benchmark (issue 5): a trial's training throughput, full pipeline vs the backbone alone.

    .venv/bin/python benchmarks/bench_trial.py                      # demo sweep, trial 0, 1 thread
    .venv/bin/python benchmarks/bench_trial.py --index 2 --threads 2
    .venv/bin/python benchmarks/bench_trial.py --device cuda --model resnet50 --image-size 128 512 \\
        --channels 3 --batch-size 64                                # the Merlin study's setting on a GPU (bf16)

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


class Bench:
    """One trial's model, optimizer and loaders, and a function per measurement (samples/s)."""

    def __init__(self, args: argparse.Namespace):
        torch.set_num_threads(args.threads)
        self.args = args
        self.device = device = resolve_device(args.device)
        self.spec, cfg = configure(args)
        self.cfg = cfg
        configure_determinism(False, device)
        self.precision = precision = Precision.for_device(cfg.train, device)
        data = load_dataset(cfg.data, cfg.frontend.sample_rate, tuple(cfg.eval.sets), seed=0)
        self.model = create_classifier(cfg.frontend, cfg.model, len(data.classes)).to(device)
        if precision.channels_last:
            self.model.backbone.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, cfg.train)
        self.prep = BatchPrep.for_training(
            cfg.train.augment, self.model.frontend, device, data.train.clip_len, precision.amp_dtype
        )
        self.batch_size = cfg.train.batch_size
        self.loaders = {
            w: train_loader(data.train, self.batch_size, seed=0, num_workers=w, prepare=self.prep)
            for w in args.workers
        }  # made once, as a trial does: the workers persist from epoch to epoch
        self.plain = train_loader(data.train, self.batch_size, seed=0, num_workers=0)
        self.cached = self._cache_images()
        self.n_clips = sum(t.shape[0] for _, t in self.cached)
        # As a trial does, each epoch's iterator is started when the previous epoch ends, so the
        # workers make its first batches while the trial would evaluate and save (here: while the
        # other measurements run); one epoch's head start is prefetch_factor (2) batches per worker.
        self.upcoming = {w: self._start(w, 100) for w in args.workers}

    def _cache_images(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The backbone-alone input: this pipeline's own images (frontend output), on the device."""
        cached = []
        with torch.no_grad():
            for waveform, target in self.plain:
                image = self.model.frontend(waveform.to(self.device))
                if self.precision.channels_last:
                    image = image.contiguous(memory_format=torch.channels_last)
                cached.append((image, target.to(self.device)))
        return cached

    def _start(self, workers: int, epoch: int):
        self.loaders[workers].sampler.seed = epoch
        return iter(self.loaders[workers])

    def full(self, workers: int, epoch: int) -> float:
        stats = train_one_epoch(
            self.model, self.upcoming[workers], self.optimizer, self.cfg.train, self.device, 0,
            self.precision,
        )  # fmt: skip
        self.upcoming[workers] = self._start(workers, epoch + 1)
        return stats.samples / stats.time_s

    def backbone_alone(self, epoch: int) -> float:
        model, precision = self.model, self.precision
        model.train()
        synchronize(self.device)
        start = time.perf_counter()
        for image, target in self.cached:
            with precision.autocast(self.device):
                logits = model.backbone(image)
            loss = F.binary_cross_entropy_with_logits(logits.float(), target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        synchronize(self.device)
        return self.n_clips / (time.perf_counter() - start)

    def loader_alone(self, epoch: int) -> float:
        self.plain.sampler.seed = epoch
        start = time.perf_counter()
        count = 0
        for waveform, _ in self.plain:
            count += waveform.to(self.device).shape[0]
        synchronize(self.device)
        return count / (time.perf_counter() - start)

    def augment_alone(self, epoch: int) -> float:
        self.plain.sampler.seed = epoch
        batches = list(self.plain)
        start = time.perf_counter()
        for b, (waveform, target) in enumerate(batches):
            augmenter = Augmenter(self.cfg.train.augment, np.random.default_rng([epoch, b]))
            augmenter.waveform(waveform, target)
            augmenter.masks(waveform.shape[0], *self.prep.image_hw)
        return self.n_clips / (time.perf_counter() - start)

    def frontend_alone(self, epoch: int) -> float:
        self.plain.sampler.seed = epoch
        waveforms = [w.to(self.device) for w, _ in self.plain]
        synchronize(self.device)
        start = time.perf_counter()
        for waveform in waveforms:
            image = self.model.frontend(waveform.requires_grad_(False))
            if any(p.requires_grad for p in self.model.frontend.parameters()):
                image.sum().backward()
        synchronize(self.device)
        return sum(w.shape[0] for w in waveforms) / (time.perf_counter() - start)

    def measure(self) -> dict[str, list[float]]:
        """Every measurement `repeats` times, interleaved, after one warm-up round."""
        workers = self.args.workers
        for w in workers:  # warm-up: allocator, kernels, page cache, worker start
            self.full(w, 100)
        self.backbone_alone(100)
        parts = {"backbone": self.backbone_alone, "loader": self.loader_alone,
                 "augment": self.augment_alone, "frontend": self.frontend_alone}  # fmt: skip
        results: dict[str, list[float]] = {f"full{w}": [] for w in workers}
        results.update({k: [] for k in parts})
        for r in range(self.args.repeats):
            for w in workers:
                results[f"full{w}"].append(self.full(w, r))
            for key, fn in parts.items():
                results[key].append(fn(r))
        return results

    def print_results(self, results: dict[str, list[float]]) -> None:
        args, device, precision, cfg = self.args, self.device, self.precision, self.cfg
        med = {k: statistics.median(v) for k, v in results.items()}
        where = (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"{cpu_model() or platform.processor()}, {args.threads} thread(s)"
        )
        image_shape = tuple(self.cached[0][0].shape[1:])
        print(f"trial {self.spec.index} {self.spec.name}: model {cfg.model.name}, image "
              f"{image_shape}, batch {self.batch_size}, {len(self.cached)} batches/epoch, amp "
              f"{precision.amp_dtype}, channels_last {precision.channels_last}, frontend in the "
              f"{'loader' if self.prep.runs_frontend else 'training step'}, on {where}")  # fmt: skip
        labels = {
            f"full{w}": f"full pipeline, {w} loader worker(s), train step" for w in args.workers
        }
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


def main(argv=None) -> int:
    bench = Bench(parse_args(argv))
    bench.print_results(bench.measure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
