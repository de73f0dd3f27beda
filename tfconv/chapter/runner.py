"""The table of sections in the chapter's order, and running them: `run` and a small `main`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tfconv.chapter.basics import (
    section_channels,
    section_corr2d,
    section_edges,
    section_learn_kernel,
    section_lenet,
    section_padding_stride,
    section_pooling,
)
from tfconv.chapter.checks import BookMismatchError
from tfconv.chapter.ex_correlation import (
    section_ex_compose,
    section_ex_derivatives,
    section_ex_diagonal,
    section_ex_matmul,
)
from tfconv.chapter.ex_cost import section_ex_cost
from tfconv.chapter.ex_pooling import section_ex_pooling
from tfconv.chapter.printing import PrintFn


@dataclasses.dataclass(frozen=True)
class Section:
    """A chapter section: its name on the command line, a title and its function."""

    name: str
    title: str
    func: Callable[..., dict[str, Any]]


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("corr2d", "6.2 The cross-correlation operator", section_corr2d),
        Section("edges", "6.2 Edge detection", section_edges),
        Section("learn-kernel", "6.2 Learning a kernel", section_learn_kernel),
        Section("padding-stride", "6.3 Padding and stride", section_padding_stride),
        Section("channels", "6.4 Multiple input and output channels", section_channels),
        Section("pooling", "6.5 Pooling", section_pooling),
        Section("lenet", "6.6 LeNet", section_lenet),
        Section("ex-derivatives", "Exercise 6.2.4: derivative kernels", section_ex_derivatives),
        Section("ex-diagonal", "Exercise 6.2.1: diagonal edges", section_ex_diagonal),
        Section("ex-matmul", "Exercise 6.2.3: correlation as a matrix product", section_ex_matmul),
        Section("ex-compose", "Exercise 6.4.1: two kernels in a row", section_ex_compose),
        Section("ex-pooling", "Exercises 6.5: pooling and convolution", section_ex_pooling),
        Section("ex-cost", "Exercises 6.4.2-4: the cost of a convolution", section_ex_cost),
    )
}


def list_sections() -> list[str]:
    """Section names in the chapter's order."""
    return list(SECTIONS)


def run(
    names: Iterable[str] | str = ("all",), print_fn: PrintFn = print
) -> dict[str, dict[str, Any]]:
    """Runs chapter sections in order, printing each under a heading.

    Args:
        names: Section names from `list_sections()`, or `"all"`.
        print_fn: Where the output lines go.

    Returns:
        `{section name: its results}`.

    Raises:
        ValueError: For an unknown section name.
        BookMismatchError: When a result differs from the book's.
    """
    names = [names] if isinstance(names, str) else list(names)
    chosen = list_sections() if "all" in names else list(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in SECTIONS]
    if unknown:
        raise ValueError(
            f"Unknown section(s) {unknown}. Valid sections: {', '.join(SECTIONS)}, all. "
            f"Received: {names}"
        )
    results = {}
    for name in chosen:
        section = SECTIONS[name]
        print_fn(f"== {section.title} ==")
        results[name] = section.func(print_fn)
        print_fn("")
    return results


def main(argv: Sequence[str] | None = None, prog: str = "chapter") -> int:
    """A small command line: `SECTION ... | all`, `--list`; returns the exit status.

    Exit status 0 when every section matches the book, 1 on a mismatch and 2
    for an unknown section.
    """
    parser = argparse.ArgumentParser(
        prog=prog, description="Run the chapter's examples and exercises and check them."
    )
    parser.add_argument(
        "sections",
        nargs="*",
        default=["all"],
        metavar="SECTION",
        help=f"{', '.join(SECTIONS)} or all (default)",
    )
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args(argv)
    if args.list:
        for section in SECTIONS.values():
            print(f"{section.name:16s} {section.title}")
        return 0
    try:
        run(args.sections or ["all"])
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except BookMismatchError as err:
        print(f"{prog}: mismatch with the book: {err}", file=sys.stderr)
        return 1
    return 0
