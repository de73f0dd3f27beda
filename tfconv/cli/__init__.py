"""The `tfconv` command: one entry point, one module per subcommand.

Parsing lives here and in the command modules, nothing else: each subcommand
hands its arguments to the library (`tfconv.train`, ...). A bad argument
prints one line and exits with status 2; a failure of the job itself exits
with status 1. A subcommand's arguments are added only when it is parsed or
its help shown, so that `tfconv --help` imports none of the library.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tfconv.cli import bench, chapter, export, train, tune, variants, viz
from tfconv.cli.common import Command, UsageError, add_data_options, one_line

# The subcommands, in the order `tfconv --help` lists them.
COMMANDS: tuple[Command, ...] = (
    *train.COMMANDS,
    *variants.COMMANDS,
    *viz.COMMANDS,
    *chapter.COMMANDS,
    *bench.COMMANDS,
    *tune.COMMANDS,
    *export.COMMANDS,
)

__all__ = ["COMMANDS", "Command", "UsageError", "add_data_options", "build_parser", "main"]


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser that adds its arguments on first use."""

    def __init__(
        self,
        *args: Any,
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._pending = add_arguments

    def _complete(self) -> None:
        if self._pending is not None:
            add, self._pending = self._pending, None
            add(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The `tfconv` parser, one subparser per entry of `COMMANDS`."""
    from tfconv import __version__

    parser = argparse.ArgumentParser(
        prog="tfconv",
        description="LeNet and the CNN chapter of Dive into Deep Learning on TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"tfconv {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )
    for command in COMMANDS:
        p = sub.add_parser(
            command.name,
            help=command.help,
            description=command.description,
            add_arguments=command.add_arguments,
        )
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `tfconv ARGS`; returns the exit status."""
    # TensorFlow's C++ start-up chatter hides the lines people came for; set
    # here, before any command imports TensorFlow, not on import.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        # Every command runs Keras on TensorFlow; under another backend, say so
        # once instead of failing inside Keras or a layer.
        from tfconv import require_tensorflow_backend

        require_tensorflow_backend()
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"tfconv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tfconv {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        # Every command's last line of defence: one line, never a traceback
        # (TFCONV_TRACEBACK=1 shows it, for debugging tfconv itself).
        if os.environ.get("TFCONV_TRACEBACK"):
            raise
        print(f"tfconv {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1
