"""`specsweep probe SWEEP.yaml`: which optimizer and learning rate learn fastest on your data.

    specsweep probe sweeps/mine.yaml                           # sgd x {0.1, 0.03}, adamw x {0.003, 0.001}
    specsweep probe sweeps/mine.yaml --epochs 3 --optimizers adamw --lrs 0.01 0.003 0.001

Before committing GPU-days to a frontend sweep: a few short trials of the sweep's base
configuration (its first grid point, first seed) over a small optimizer x learning-rate grid,
run one after another in this process, each a normal trial logged to the MLflow experiment
`<experiment>-probe` (so `specsweep report --experiment <experiment>-probe` works too). Every
other recipe key stays as the sweep file sets it, except `epochs` (the probe's budget; warm-up
and milestones are clipped to fit it). Prints the trials by MAP on the first evaluation set,
with MAP / label prior, ROC-AUC and the `learned` verdict, then the fastest learner as the
`train` keys to put in the sweep file (or a warning that none learned).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import tempfile

from runner.commands import SWEEP_METAVAR, help_from_doc
from runner.errors import UserError

DEFAULT_LRS = {"sgd": (0.1, 0.03), "adamw": (0.003, 0.001)}
DEFAULT_EPOCHS = 5


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "probe",
        help="a few short trials over optimizer x lr: which recipe learns fastest on this data",
        **help_from_doc(__doc__),
    )
    parser.add_argument(
        "sweep", metavar=SWEEP_METAVAR, help="the sweep file, e.g. sweeps/mine.yaml"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help=f"epochs per probe trial (default: {DEFAULT_EPOCHS}, "
        "or the sweep's epochs when fewer)",
    )
    parser.add_argument(
        "--optimizers",
        nargs="+",
        default=["sgd", "adamw"],
        choices=["sgd", "adamw"],
        help="optimizers to try (default: sgd adamw)",
    )
    parser.add_argument(
        "--lrs",
        nargs="+",
        type=float,
        help="learning rates to try with every optimizer (default: 0.1 0.03 for sgd, "
        "0.003 0.001 for adamw)",
    )
    parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the sweep's)")
    parser.add_argument(
        "--device", help="cpu, cuda or cuda:N (default: cuda when available, else cpu)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    return parser


def probe_specs(spec, optimizers, lrs, epochs: int):
    """The probe's trial specs: `spec` with each optimizer x lr and `epochs`, named by them."""
    from runner.sweep.spec import TrialConfig

    specs = []
    base = spec.config.train
    for optimizer in optimizers:
        for lr in lrs if lrs is not None else DEFAULT_LRS[optimizer]:
            train = dataclasses.replace(
                base,
                optimizer=optimizer,
                lr=lr,
                epochs=epochs,
                nesterov=base.nesterov and optimizer == "sgd",
                warmup_epochs=min(base.warmup_epochs, epochs - 1),
                milestones=tuple(m for m in base.milestones if m < epochs),
            )
            config = dataclasses.replace(spec.config, train=train)
            config = TrialConfig.from_dict(config.to_dict())  # validated like a sweep file's
            specs.append(
                dataclasses.replace(
                    spec,
                    name=f"{optimizer}-lr{lr:g}",
                    cfg_key=config.cfg_key,
                    config=config,
                    swept={"train.optimizer": optimizer, "train.lr": lr},
                )
            )
    return specs


def command(args: argparse.Namespace) -> int:
    from runner.sweep.grid import expand
    from runner.sweep.load import load_sweep

    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads {args.threads}: must be at least 1")
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs {args.epochs}: must be at least 1")
    for lr in args.lrs or ():
        if not (math.isfinite(lr) and lr > 0):
            raise UserError(f"--lrs {lr:g}: a learning rate must be a positive number")
    sweep = load_sweep(args.sweep)
    spec = expand(sweep)[0]
    epochs = args.epochs or min(DEFAULT_EPOCHS, spec.config.train.epochs)
    specs = probe_specs(spec, args.optimizers, args.lrs, epochs)
    uri = args.tracking_uri or sweep.tracking.uri
    experiment = f"{sweep.tracking.experiment or sweep.name}-probe"
    first = spec.config.eval.sets[0]

    from runner.train.trial import run_trial

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    print(
        f"probe {args.sweep}: {len(specs)} trials of {spec.name} (seed {spec.seed}), {epochs} "
        f"epoch(s) each -> {uri}, experiment {experiment}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="specsweep-probe-") as checkpoints:
        for s in specs:
            result = run_trial(
                s,
                tracking_uri=uri,
                experiment=experiment,
                device=args.device,
                threads=args.threads,
                checkpoint_root=checkpoints,
            )
            m = result.metrics
            rows.append((s, result))
            if result.finished:
                print(
                    f"  {s.name:16s} MAP {m[f'map_{first}']:.4f} "
                    f"({m[f'map_over_prior_{first}']:.1f}x prior)  learned="
                    f"{'yes' if m['learned'] else 'no'}  {m['train_time_s']:.0f} s",
                    flush=True,
                )
            else:
                print(f"  {s.name:16s} {result.status}: {result.reason}", flush=True)
    return _summary(rows, first)


def _summary(rows, first: str) -> int:
    done = [(s, r) for s, r in rows if r.finished]
    done.sort(key=lambda sr: -sr[1].metrics[f"map_{first}"])
    print(f"\nby MAP on '{first}':")
    print(f"  {'trial':16s} {'MAP':>7s} {'x prior':>8s} {'AUC':>6s}  learned  reason")
    for s, r in done:
        m = r.metrics
        print(
            f"  {s.name:16s} {m[f'map_{first}']:7.4f} {m[f'map_over_prior_{first}']:7.1f}x "
            f"{m[f'auc_{first}']:6.3f}  {'yes' if m['learned'] else 'no':7s}  {r.learned_reason}"
        )
    for s, r in rows:
        if not r.finished:
            print(f"  {s.name:16s} {r.status}: {r.reason}")
    if not done:
        print("no probe trial finished; fix the errors above first")
        return 1
    best, result = done[0]
    train = best.config.train
    keys = f"optimizer: {train.optimizer}, lr: {train.lr:g}"
    if result.metrics["learned"]:
        print(f"fastest learner: {best.name}; put `{keys}` in the sweep file's train section")
    else:
        print(
            f"no probe trial learned much in {train.epochs} epoch(s) (best: {best.name}, MAP "
            f"{result.metrics[f'map_over_prior_{first}']:.1f}x the label prior); try more "
            "--epochs, other --lrs, or pretrained weights (model.pretrained) before a long sweep"
        )
    return 0
