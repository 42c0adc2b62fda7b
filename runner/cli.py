"""The `specsweep` command line: one entry point, one module per subcommand in runner/commands/.

specsweep plan sweeps/merlin_part1.yaml
specsweep --help
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import sys

from runner.errors import UserError, disk_full_message, disk_full_path

# Each name is a module in runner/commands/ with `add_parser(subparsers)` and `command(args)`.
SUBCOMMANDS = ("plan", "trial", "sweep", "report", "ui", "predict", "export", "probe", "server")

EXAMPLES = """examples:
  specsweep plan sweeps/demo.yaml        # what a sweep file expands to, without running anything
  specsweep sweep sweeps/demo.yaml       # train every trial, resumably
  specsweep report sweeps/demo.yaml      # reports/out/demo/report.html from the sweep's runs
  specsweep ui sweeps/demo.yaml          # the MLflow UI on the runs, ranked by MAP
  specsweep COMMAND --help               # each command's options and examples"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specsweep",
        description="Sweep spectrogram settings, train a CNN per point, compare MAP and training time.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"specsweep {version()}")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"runner.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_command=module.command)
    return parser


def version() -> str:
    """The installed specsweep's version (pyproject.toml's, as pip recorded it)."""
    try:
        return importlib.metadata.version("specsweep")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed; run `make install`)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # to print "run this again"
    try:
        return int(args._command(args) or 0)
    except UserError as err:
        print(f"specsweep: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("specsweep: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        full = disk_full_path(err, os.getcwd())
        if full is None:
            raise
        # Writing the queue, a cache or the tracking store: nothing to fix but the space.
        print(f"specsweep: {disk_full_message(full)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
