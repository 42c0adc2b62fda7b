"""Frontend speed: clips/s per compression, and the training-step cost of learnable PCEN.

    .venv/bin/python benchmarks/bench_frontends.py            # both parts, a few minutes on 2 cores
    .venv/bin/python benchmarks/bench_frontends.py --device cuda --train-batch 64

1. Throughput (clips/s): a batch of 64 three-second clips at the Merlin study's best setting (22050 Hz, window 512,
   hop 128, 128 mel bands, 128x512 image) through each compression, against librosa computing the
   same image one clip at a time (what a CPU data loader does today). librosa has no learnable
   parameters, so it runs exp and PCEN with the frontend's initial values.
2. Training step: ResNet-50 (timm, random init, in_chans = 3) on 128x512 images, forward +
   backward + SGD step, with the dB frontend and with per-band learnable looped PCEN in front.
   The two are timed alternately in one process (A B A B ...) so machine noise hits both; the
   figure is the ratio of their medians (the Merlin study saw up to 1.5; the target is <= 1.05).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from frontends import ExpConfig, FrontendConfig, PcenConfig, build_frontend

SR = 22050
BEST = FrontendConfig(
    sample_rate=SR, win_length=512, hop_length=128, scale="mel", n_mels=128, image_size=(128, 512)
)
VARIANTS = {
    "none": replace(BEST, compression="none"),
    "db": replace(BEST, compression="db"),
    "exp": replace(BEST, compression="exp"),
    "exp per band": replace(BEST, compression="exp", exp=ExpConfig(per_band=True)),
    "pcen loop": replace(BEST, compression="pcen"),
    "pcen loop per band": replace(BEST, compression="pcen", pcen=PcenConfig(per_band=True)),
    "pcen librosa init": replace(BEST, compression="pcen", pcen=PcenConfig(init="librosa")),
    "db+pcen+exp (3 ch)": replace(BEST, compression=("db", "pcen", "exp")),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- librosa baseline


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def librosa_image(clip: np.ndarray, compression: str) -> np.ndarray:
    """The same image as the frontend, one clip, librosa + numpy + PIL (antialiased resize)."""
    import librosa
    from PIL import Image

    spec = librosa.feature.melspectrogram(
        y=clip, sr=SR, n_fft=512, hop_length=128, n_mels=128, pad_mode="reflect"
    )
    spec = _minmax(spec)
    if compression == "db":
        spec = np.log(np.maximum(spec, 1e-6))
    elif compression == "exp":
        spec = spec**0.5  # a = 0
    elif compression == "pcen":
        spec = librosa.pcen(spec, b=0.025, gain=0.98, bias=2.0, power=0.5, eps=1e-6)
    spec = _minmax(spec).astype(np.float32)
    return np.asarray(Image.fromarray(spec).resize((512, 128), Image.Resampling.BILINEAR))


def librosa_pass(clips: np.ndarray, compression: str) -> None:
    for clip in clips:
        librosa_image(clip, compression)


# ------------------------------------------------------------------------------- throughput


# librosa has no per-band or learnable variants: each row is compared with its base compression.
LIBROSA_BASES = ("none", "db", "exp", "pcen")


def bench_throughput(
    device: torch.device, batch: int, reps: int, librosa_clips: int
) -> dict[str, dict[str, float]]:
    """Clips/s per variant: frontend forward (no grad), forward + backward (learnable ones), and
    librosa one clip at a time. Every measurement is the best of `reps` passes, and the passes
    run round-robin over all variants, so a burst of load from elsewhere hits all of them alike."""
    waveforms = (0.1 * torch.randn(batch, 3 * SR)).to(device)
    clips = waveforms[:librosa_clips].cpu().numpy()
    frontends = {name: build_frontend(cfg).to(device) for name, cfg in VARIANTS.items()}

    def forward(frontend):
        with torch.no_grad():
            frontend(waveforms)

    def forward_backward(frontend):
        frontend(waveforms).mean().backward()

    jobs = {}  # (variant, kind) -> (callable, clips per call)
    for name, frontend in frontends.items():
        jobs[name, "forward"] = (lambda f=frontend: forward(f), batch)
        if any(p.requires_grad for p in frontend.parameters()):
            jobs[name, "fwd+bwd"] = (lambda f=frontend: forward_backward(f), batch)
    for base in LIBROSA_BASES if librosa_clips else ():  # 0: no baseline (librosa not installed)
        jobs[f"librosa {base}", "librosa"] = (lambda c=base: librosa_pass(clips, c), len(clips))
    for fn, _ in jobs.values():  # warm-up: allocations, FFT plans, numba compilation
        fn()
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(reps):
        for key, (fn, _) in jobs.items():
            best[key] = min(best[key], _timed(fn, device))
    rates: dict[str, dict[str, float]] = {}
    for (name, kind), seconds in best.items():
        rates.setdefault(name, {})[kind] = jobs[name, kind][1] / seconds
    for name in VARIANTS:
        base = name.split()[0]
        if base in LIBROSA_BASES and librosa_clips:
            rates[name]["librosa"] = rates[f"librosa {base}"]["librosa"]
    return {name: rates[name] for name in VARIANTS}


# ----------------------------------------------------------------------------- training step


def bench_training_step(
    device: torch.device, batch: int, reps: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    import timm

    cfgs = {
        "db": replace(BEST, compression="db", repeat_channels=3),
        "pcen loop per band (learnable)": replace(
            BEST, compression="pcen", pcen=PcenConfig(per_band=True), repeat_channels=3
        ),
    }
    torch.manual_seed(0)
    backbone = timm.create_model("resnet50", pretrained=False, in_chans=3, num_classes=52).to(
        device
    )
    models = {
        name: torch.nn.Sequential(build_frontend(cfg), backbone).to(device)
        for name, cfg in cfgs.items()
    }
    optimisers = {
        name: torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for name, model in models.items()
    }
    waveforms = (0.1 * torch.randn(batch, 3 * SR)).to(device)
    targets = (torch.rand(batch, 52) < 0.05).float().to(device)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    use_amp = device.type == "cuda"

    def step(name: str) -> None:
        optimisers[name].zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = loss_fn(models[name](waveforms).float(), targets)
        loss.backward()
        optimisers[name].step()

    def frontend_only(name: str) -> None:
        # The frontend's share of a step: forward, plus backward where it has parameters.
        image = models[name][0](waveforms)
        if image.requires_grad:
            image.mean().backward()

    for _ in range(3):  # warm-up: the first steps allocate and pick kernels (several x slower)
        for name in models:
            step(name)
            frontend_only(name)
    times: dict[str, list[float]] = {name: [] for name in models}
    frontend_times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(reps):
        for name in models:  # interleaved: A B A B ...
            times[name].append(_timed(lambda n=name: step(n), device))
            frontend_times[name].append(_timed(lambda n=name: frontend_only(n), device))
    return times, frontend_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=64, help="clips per batch for throughput")
    parser.add_argument(
        "--reps", type=int, default=4, help="timed passes per throughput variant (best is kept)"
    )
    parser.add_argument(
        "--librosa-clips",
        type=int,
        default=16,
        help="clips librosa computes per pass (0: no librosa baseline)",
    )
    parser.add_argument(
        "--train-batch", type=int, default=4, help="batch size of the ResNet-50 steps"
    )
    parser.add_argument("--train-reps", type=int, default=12, help="interleaved steps per frontend")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_throughput:
        print(
            f"\n1. throughput (clips/s), batch {args.batch} x 3 s, window 512 / hop 128 / 128 mel / 128x512"
        )
        rates = bench_throughput(device, args.batch, args.reps, args.librosa_clips)
        print(
            "\n| compression | frontend, forward | frontend, forward + backward | librosa, one clip at a time | forward vs librosa |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, rate in rates.items():
            cells = [
                f"{rate[k]:.0f}" if k in rate else "-" for k in ("forward", "fwd+bwd", "librosa")
            ]
            speedup = f"{rate['forward'] / rate['librosa']:.1f}x" if "librosa" in rate else "-"
            print(f"| {name} | {' | '.join(cells)} | {speedup} |", flush=True)

    if not args.skip_train:
        print(
            f"\n2. training step, ResNet-50 at 128x512, batch {args.train_batch}, {args.train_reps} interleaved steps each"
        )
        times, frontend_times = bench_training_step(device, args.train_batch, args.train_reps)
        for name, t in times.items():
            print(
                f"  {name:32s} step min {min(t):.3f} s, median {statistics.median(t):.3f} s, "
                f"max {max(t):.3f} s; frontend alone min {min(frontend_times[name]) * 1000:.1f} ms"
            )
        db_name, pcen_name = times
        # On a shared machine the minimum is the least disturbed run (as timeit reports); the
        # pairwise ratios of neighbouring steps show how much the load moved the ratio.
        pair_ratios = sorted(p / d for d, p in zip(times[db_name], times[pcen_name]))
        extra = min(frontend_times[pcen_name]) - min(frontend_times[db_name])
        print(f"  step-time ratio {pcen_name} / {db_name}:")
        print(
            f"    ratio of minimum step times          {min(times[pcen_name]) / min(times[db_name]):.3f}"
        )
        print(
            f"    median of pairwise ratios            {statistics.median(pair_ratios):.3f} "
            f"(range {pair_ratios[0]:.3f} .. {pair_ratios[-1]:.3f})"
        )
        print(f"    1 + extra frontend time / db step    {1 + extra / min(times[db_name]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
