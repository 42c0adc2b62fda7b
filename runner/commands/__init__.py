"""The `specsweep` command line: one module per subcommand, each with `add_parser(subparsers)`
and `command(args)`, registered by `runner.cli`. A command parses, calls the layers below it
(`runner.queue`, `runner.train`, `runner.tracking`, `reports`) and prints; it holds no logic a
test could not reach without a shell. A user's mistake is raised as a `UserError`, which
`runner.cli` prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse

SWEEP_METAVAR = "SWEEP.yaml"  # the sweep file argument's one name in every command's usage line


def help_from_doc(doc: str) -> dict:
    """`add_parser` keyword arguments from a command module's docstring: its first line and prose
    as the description, its example lines (those starting `specsweep `) as the epilog, so that
    every `--help` ends with examples and the docstring is their one source."""
    examples, prose = [], []
    for line in doc.strip().splitlines():
        (examples if line.strip().startswith("specsweep ") else prose).append(line.strip())
    if not examples:
        raise ValueError("a command's docstring needs at least one `specsweep ...` example line")
    description = "\n".join(prose).strip()
    description = "\n\n".join(p.strip() for p in description.split("\n\n") if p.strip())
    return {
        "description": description,
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in examples),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def positive_int(text: str) -> int:
    """argparse `type` of a count option (`--threads`, `--slots`, `--epochs`...): an integer >= 1;
    anything else is argparse's one-line error with exit code 2."""
    return _int_at_least(text, 1, "must be at least 1")


def non_negative_int(text: str) -> int:
    """argparse `type` of an option that may be 0 (`--max-retries`): an integer >= 0."""
    return _int_at_least(text, 0, "must be 0 or more")


def _int_at_least(text: str, low: int, message: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text}: {message}")
    return value


# Where `predict` and `export` look a MODEL up when neither the flag nor the environment says.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def add_model_tracking_uri(parser) -> None:
    """The `--tracking-uri` of the commands that take a logged MODEL (predict, export)."""
    parser.add_argument(
        "--tracking-uri",
        help=f"MLflow tracking URI (default: $SPECSWEEP_TRACKING_URI or {DEFAULT_TRACKING_URI})",
    )


def model_tracking_uri(args) -> str:
    """--tracking-uri, else $SPECSWEEP_TRACKING_URI, else DEFAULT_TRACKING_URI; a scheme MLflow
    has no store for is a UserError (exit 2) before any model is loaded."""
    import os

    from runner.servers.remote import TRACKING_ENV, check_tracking_scheme

    uri = args.tracking_uri or os.environ.get(TRACKING_ENV) or DEFAULT_TRACKING_URI
    check_tracking_scheme(uri)
    return uri
