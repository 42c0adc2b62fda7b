"""Training recipes on the hard synthetic preset: MAP after a fixed number of epochs, several seeds.

    python benchmarks/bench_recipe.py                        # 5 main recipes, 3 seeds, 4 and 8 epochs
    python benchmarks/bench_recipe.py --recipes old adamw --seeds 0 --epochs 4

The data is `data.synthetic.preset: hard` (88 classes, 5-10 training clips each, about 1.9 labels
per clip, low SNR, distractors), where the Merlin study's recipe (SGD lr 0.1 from a zero output bias)
learns the base rates and stops, as it does on small real field-recording sets. Each trial is a
real `run_trial` (the demo's model, `mobilenetv3_small_050` from scratch, on small 48x128 images
so the comparison fits a 2-core CPU) logged to a throwaway MLflow store. Printed per recipe and
epoch budget: MAP on `test` per seed, their mean, the label-prior MAP, MAP / prior, how many seeds
were tagged `learned=yes`, and the training time. A budget is its own run (the schedule spans
that many epochs), not an epoch of a longer run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.tracking.trial_runs import cpu_model  # noqa: E402  (after the path insert)

ADAMW = {
    "optimizer": "adamw",
    "lr": 0.003,
    "weight_decay": 0.01,
    "schedule": "cosine",
    "warmup_epochs": 1,
    "head_bias_init": "prior",
}

# The Merlin study's SGD recipe in full (no longer the defaults, which are now the adamw recipe below).
SGD = {"optimizer": "sgd", "weight_decay": 0.0001, "schedule": "piecewise", "warmup_epochs": 0}

# name -> the `train` keys of each recipe (all plain sweepable values).
RECIPES: dict[str, dict] = {
    # The Merlin study's recipe as specsweep ran it before the recipe options (the demo's until now).
    "old": {**SGD, "lr": 0.1, "head_bias_init": "zero"},
    "sgd-prior": {**SGD, "lr": 0.1, "head_bias_init": "prior"},
    "sgd-prior-cosine": {
        **SGD,
        "lr": 0.1,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "head_bias_init": "prior",
    },
    "adamw": {
        "optimizer": "adamw",
        "lr": 0.003,
        "weight_decay": 0.01,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "head_bias_init": "prior",
    },
    "adamw-asl": {
        "optimizer": "adamw",
        "lr": 0.003,
        "weight_decay": 0.01,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "head_bias_init": "prior",
        "loss": "asl",
    },
    "adamw-zero-bias": {
        "optimizer": "adamw",
        "lr": 0.003,
        "weight_decay": 0.01,
        "schedule": "cosine",
        "warmup_epochs": 1,
        "head_bias_init": "zero",
    },
    "adamw-focal": {**ADAMW, "loss": "focal"},
    "adamw-balanced": {**ADAMW, "pos_weight": "balanced"},
    "adamw-onecycle": {**ADAMW, "schedule": "onecycle", "warmup_epochs": 0},
    "adamw-lr0.001": {**ADAMW, "lr": 0.001},
    "adamw-lr0.01": {**ADAMW, "lr": 0.01},
}

DEFAULT_RECIPES = ["old", "sgd-prior", "adamw", "adamw-asl", "adamw-zero-bias"]


def sweep_file(where: Path, data: Path, recipe: dict, epochs: int, seed: int) -> Path:
    raw = {
        "name": "bench-recipe",
        "data": {
            "kind": "synthetic",
            "clip_s": 3.0,
            "cache_dir": str(data / "cache"),
            "synthetic": {"preset": "hard", "output_dir": str(data / "synthetic")},
        },
        "frontend": {
            "sample_rate": 22050,
            "win_length": 512,
            "hop_length": 256,
            "scale": "mel",
            "n_mels": 48,
            "image_size": [48, 128],
        },
        "model": {"name": "mobilenetv3_small_050", "pretrained": "none"},
        "train": {
            "epochs": epochs,
            "batch_size": 32,
            "milestones": [max(1, epochs * 3 // 4)],
            "num_workers": 0,
            **recipe,
        },
        "eval": {"sets": ["test"], "every_n_epochs": epochs},
        "seeds": [seed],
    }
    path = where / f"s{seed}-e{epochs}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=DEFAULT_RECIPES, choices=list(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", help="folder for the generated audio and its cache (reused)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    import logging

    logging.basicConfig(level=logging.WARNING)
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep
    from runner.train.trial import run_trial

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {args.threads} training thread(s)")
    print(f"command: {' '.join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])])}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp_name:
        tmp = Path(tmp_name)
        data = Path(args.data) if args.data else tmp / "data"
        old_cwd = os.getcwd()
        os.chdir(tmp)  # mlruns artifacts and checkpoints land in the throwaway folder
        try:
            for epochs in args.epochs:
                for name in args.recipes:
                    maps, priors, learned, times = [], [], 0, []
                    for seed in args.seeds:
                        path = sweep_file(tmp, data, RECIPES[name], epochs, seed)
                        spec = expand(load_sweep(path))[0]
                        start = time.perf_counter()
                        result = run_trial(
                            spec,
                            tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
                            device="cpu",
                            threads=args.threads,
                        )
                        if not result.finished:
                            print(f"{name} seed {seed}: {result.status} {result.reason}")
                            continue
                        m = result.metrics
                        maps.append(m["map_test"])
                        priors.append(m["prior_map_test"])
                        learned += int(m["learned"])
                        times.append(m["train_time_s"])
                        print(
                            f"  {name:18s} epochs {epochs:3d} seed {seed}: MAP {m['map_test']:.3f} "
                            f"({m['map_over_prior_test']:.1f}x prior), AUC {m['auc_test']:.3f}, "
                            f"final loss {m['train_loss_over_prior']:.2f}x prior loss, "
                            f"{m['train_time_s']:.0f} s train, {time.perf_counter() - start:.0f} s all",
                            flush=True,
                        )
                    if maps:
                        rows.append((name, epochs, maps, priors[0], learned, times))
        finally:
            os.chdir(old_cwd)

    print()
    print(
        "| recipe | epochs | MAP per seed | mean MAP | prior MAP | mean / prior | learned | train s |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, epochs, maps, prior, learned, times in rows:
        mean = statistics.mean(maps)
        print(
            f"| {name} | {epochs} | {', '.join(f'{m:.3f}' for m in maps)} | {mean:.3f} | "
            f"{prior:.3f} | {mean / prior:.1f}x | {learned}/{len(maps)} | "
            f"{statistics.mean(times):.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
