"""The `specsweep` command line: one module per subcommand, each with `add_parser(subparsers)`
and `command(args)`, registered by `runner.cli`. A command parses, calls the layers below it
(`runner.queue`, `runner.train`, `runner.tracking`, `reports`) and prints; it holds no logic a
test could not reach without a shell. A user's mistake is raised as a `UserError`, which
`runner.cli` prints as one line with exit code 2.
"""
