"""`specsweep predict MODEL AUDIO...`: score recordings with a logged model.

    specsweep predict 3f2a...c9 field/ --out scores.csv
    specsweep predict runs:/3f2a...c9/model dawn.flac --raven tables/ --threshold 0.7
    specsweep predict models:/birds/2 field/ --hop-s 1.5 --device cuda

MODEL: a run id, runs:/<id>/model, models:/<name>/<version> (Model Registry), models:/<model id>,
or a local MLflow model folder. AUDIO: files and folders (searched recursively for .wav, .flac,
.ogg, .mp3, .aif, .aiff), of any length. Each file is cut into windows of the model's clip length
every --hop-s (default: one clip), plus one flush with the end, and every window is scored.
--out gets one row per window (file, start_s, end_s, one probability per class); --raven DIR gets
one Raven Pro selection table per recording with a box per window and class scoring at least
--threshold. Files that cannot be decoded are counted and named at the end (exit code 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from runner.commands import add_model_tracking_uri, help_from_doc, model_tracking_uri
from runner.errors import UserError

EXIT_BAD_FILES = 1


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="score recordings with a logged model (CSV per window, Raven selection tables)",
        **help_from_doc(__doc__),
    )
    parser.add_argument("model", metavar="MODEL", help="run id, runs:/..., models:/... or folder")
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files or folders")
    parser.add_argument(
        "--out", type=Path, default=Path("scores.csv"), help="the CSV (default scores.csv)"
    )
    parser.add_argument("--raven", type=Path, metavar="DIR", help="write Raven tables here")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="Raven boxes from this probability (0.5)"
    )
    parser.add_argument("--hop-s", type=float, help="window hop in seconds (default: a clip)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per batch (64)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    add_model_tracking_uri(parser)
    return parser


def command(args: argparse.Namespace) -> int:
    from runner.data.cache import BadAudio
    from runner.train import predict
    from runner.train.trial import resolve_device

    predict.check_options(args.hop_s, args.threshold, args.batch_size)
    uri = model_tracking_uri(args)
    device = resolve_device(args.device)
    files = predict.audio_files(args.audio)
    predict.check_outputs(args.out, args.raven)  # before the model is loaded
    scorer = predict.load_scorer(args.model, uri).to(device)
    hop_s = args.hop_s or scorer.clip_s
    print(
        f"predict: {len(files)} file(s), {len(scorer.classes)} classes, windows of "
        f"{scorer.clip_s:g} s every {hop_s:g} s at {scorer.sample_rate} Hz, on {device}",
        file=sys.stderr,
    )
    csv_out = predict.ScoresCsv(args.out, scorer.classes)
    bad: list[BadAudio] = []
    tables, taken = 0, set()
    windows, audio_s, start = 0, 0.0, time.perf_counter()
    try:
        for path in _progress(files):
            try:
                result = predict.score_file(
                    scorer, path, hop_s=hop_s, batch_size=args.batch_size, device=device
                )
            except BadAudio as err:
                bad.append(err)
                continue
            csv_out.add(result)
            windows += len(result.starts_s)
            audio_s += result.duration_s
            if args.raven is not None:
                rows = predict.raven_rows(
                    result, scorer.classes, args.threshold, scorer.sample_rate
                )
                predict.write_raven_table(args.raven, result, rows, taken)
                tables += 1
    finally:
        scored = len(files) - len(bad)
        csv_out.close(keep=scored > 0)  # nothing scored: an existing --out stays as it was
    elapsed = time.perf_counter() - start
    print(
        f"predict: scored {scored} file(s), {windows} windows, {audio_s:.1f} s of "
        f"audio in {elapsed:.1f} s; "
        + (f"wrote {args.out}" if scored else f"{args.out} not written")
        + (f" and {tables} Raven table(s) in {args.raven}/" if args.raven is not None else ""),
        file=sys.stderr,
    )
    if bad:
        print(f"predict: {len(bad)} of {len(files)} file(s) could not be scored:", file=sys.stderr)
        for err in bad:
            print(f"  {err.path}: {err.reason}: {err.detail}", file=sys.stderr)
        return EXIT_BAD_FILES
    if not files:
        raise UserError("predict: no audio files given")
    return 0


def _progress(files: list[Path]):
    """A progress bar over the files on a terminal; the plain list elsewhere."""
    if not sys.stderr.isatty() or len(files) < 2:
        yield from files
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("scoring", total=len(files))
        for path in files:
            bar.update(task, description=f"scoring {path.name}")
            yield path
            bar.advance(task)
