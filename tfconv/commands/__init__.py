"""Subcommands of `tfconv` beyond `train`; each module has `add_parser(subparsers)`."""
