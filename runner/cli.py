"""The `specsweep` command line: one entry point, one module per subcommand in runner/commands/.

specsweep plan sweeps/merlin_part1.yaml
specsweep --help
"""

from __future__ import annotations

import argparse
import importlib
import sys

from runner.errors import UserError

# Each name is a module in runner/commands/ with `add_parser(subparsers)` and `command(args)`.
SUBCOMMANDS = ("plan", "trial", "sweep", "report", "ui", "predict", "export", "probe", "server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specsweep",
        description="Sweep spectrogram settings, train a CNN per point, compare MAP and training time.",
    )
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"runner.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_command=module.command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._command(args) or 0)
    except UserError as err:
        print(f"specsweep: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("specsweep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
