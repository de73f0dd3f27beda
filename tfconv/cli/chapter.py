"""`tfconv chapter`: run the chapter's examples and exercises and check them against the book."""

from __future__ import annotations

import argparse
import sys

from tfconv.cli.common import Command, UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The section names (checked against `tfconv.chapter.SECTIONS` when run) and `--list`."""
    p.add_argument(
        "sections",
        nargs="*",
        default=["all"],
        metavar="SECTION",
        help="section names or all (default: all)",
    )
    p.add_argument("--list", action="store_true", help="list the sections and exit")


def run(args: argparse.Namespace) -> int:
    """Runs `tfconv chapter`; returns the exit status."""
    from tfconv import chapter

    if args.list:
        for section in chapter.SECTIONS.values():
            print(f"{section.name:16s} {section.title}")
        return 0
    names = args.sections or ["all"]
    unknown = [n for n in names if n != "all" and n not in chapter.SECTIONS]
    if unknown:
        raise UsageError(
            f"unknown section(s) {', '.join(unknown)}; choose from "
            f"{', '.join(chapter.list_sections())} or all"
        )
    try:
        chapter.run(names)
    except chapter.BookMismatchError as err:
        print(f"tfconv chapter: mismatch with the book: {err}", file=sys.stderr)
        return 1
    return 0


COMMANDS = (
    Command(
        name="chapter",
        help="run the chapter's worked examples and exercises, checked against the book",
        description="Recompute the chapter's examples with tfconv, print them as the book "
        "does and check the book's numbers; exit status 1 on a mismatch. "
        "`tfconv chapter --list` names the sections.",
        add_arguments=add_arguments,
        run=run,
    ),
)
