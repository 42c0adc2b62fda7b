"""One module per `specsweep` subcommand, each with `add_parser(subparsers)` and `command(args)`."""
