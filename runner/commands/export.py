"""A logged model as an ONNX file, frontend included.

    specsweep export 3f2a...c9 --onnx best.onnx
    specsweep export models:/birds/2 --onnx birds.onnx --tracking-uri http://127.0.0.1:5000

MODEL as `specsweep predict` takes it: a run id, runs:/<id>/model, models:/<name>/<version>,
models:/<model id>, or a local MLflow model folder. The file takes `waveform` float32
(batch, clip samples) at the model's sample rate and gives `probabilities` (batch, classes); the
batch axis is dynamic, and the class names, sample rate and clip length are in its metadata.
The command then runs the file with onnxruntime beside the model in torch, on random and on
synthetic-bird clips, and prints how far they agree (exit 1 beyond 1e-4). Needs the onnx extra:
pip install 'specsweep[onnx]'.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runner.commands import add_model_tracking_uri, help_from_doc, model_tracking_uri
from runner.errors import UserError

EXIT_DISAGREES = 1


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a logged model as ONNX (frontend inside) and check it with onnxruntime",
        **help_from_doc(__doc__),
    )
    parser.add_argument("model", metavar="MODEL", help="run id, runs:/..., models:/... or folder")
    parser.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="the ONNX file")
    add_model_tracking_uri(parser)
    return parser


def command(args: argparse.Namespace) -> int:
    from runner.tracking import onnx_export
    from runner.train import predict

    onnx_export.require_onnx()
    out: Path = args.onnx
    if out.suffix.lower() != ".onnx":
        raise UserError(f"--onnx {out}: the file name must end in .onnx, e.g. best.onnx")
    if not out.parent.is_dir():
        raise UserError(f"--onnx {out}: folder {out.parent} does not exist; create it first")
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"--onnx {out}: folder {out.parent} is not writable; choose another")
    uri = model_tracking_uri(args)
    scorer = predict.load_scorer(args.model, uri)
    print(
        f"export: {len(scorer.classes)} classes, clips of {scorer.clip_s:g} s at "
        f"{scorer.sample_rate} Hz; exporting (torch.onnx, dynamo)...",
        file=sys.stderr,
    )
    onnx_export.export_onnx(scorer, out)
    agreement = onnx_export.check_onnx(out, scorer)
    size_mb = out.stat().st_size / 1e6
    print(f"export: wrote {out} ({size_mb:.1f} MB); {agreement.line()}")
    return 0 if agreement.ok else EXIT_DISAGREES
