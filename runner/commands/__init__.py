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
