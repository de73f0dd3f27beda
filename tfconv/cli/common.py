"""What every `tfconv` subcommand shares: the command record, the usage error,
the data options, choices read from the library lazily, and one-line errors.

The command modules import this module, never `tfconv.cli` itself, which
imports them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any


class UsageError(Exception):
    """A bad command-line value: reported in one line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its name and texts, how to add its arguments, and how to run it.

    `add_arguments` runs only when the subcommand is parsed or its help
    shown, so that `tfconv --help` imports none of the library.
    """

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class LazyChoices(Sequence[str]):
    """The names an option accepts, read from the library module that defines them
    when a value is checked; also the option's argparse `type`, which checks it.

    For constants of modules that import Keras (seconds): as `choices=`, even
    a lazy sequence is read by argparse when an option is added and when its
    help is shown, so every `--help` would import Keras. Use
    `type=LazyChoices(...)` with a `metavar` instead.
    """

    def __init__(self, module: str, name: str, *extra: str) -> None:
        self._module, self._name, self._extra = module, name, extra

    def _values(self) -> tuple[str, ...]:
        return (*getattr(importlib.import_module(self._module), self._name), *self._extra)

    def __getitem__(self, index: Any) -> Any:
        return self._values()[index]

    def __len__(self) -> int:
        return len(self._values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __contains__(self, value: object) -> bool:
        return value in self._values()

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, Sequence) else NotImplemented

    def __hash__(self) -> int:  # argparse looks a `type` up in a dict
        return hash((self._module, self._name, self._extra))

    def __repr__(self) -> str:
        return f"LazyChoices({self._module}.{self._name})"

    def __call__(self, text: str) -> str:
        """`text` if it is one of the names, else argparse's own "invalid choice" error."""
        if text not in self:
            choices = ", ".join(map(repr, self))
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {choices})")
        return text


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """`--dataset`, `--data-dir` and `--source`, shared by every data-reading command."""
    # Imported here, not at the top: only a subcommand's own parsing needs them.
    from tfconv.data import SOURCES
    from tfconv.train import DATASETS

    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="dataset (default: fashion_mnist)",
    )
    group.add_argument(
        "--data-dir",
        default=None,
        help="folder with the four official IDX .gz files (default: $TFCONV_DATA_DIR, "
        "Keras's cache, /usr/share/datasets, tensorflow-datasets)",
    )
    group.add_argument(
        "--source",
        choices=("auto", *SOURCES),
        default=None,
        help="where to read the data from (default: auto, in that order)",
    )


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


def one_line(err: BaseException) -> str:
    """An exception as one line: an OS error's reason and file, else its first line."""
    if isinstance(err, OSError) and err.strerror:
        names = [n for n in (err.filename, err.filename2) if n is not None]
        where = f": {' -> '.join(map(str, names))}" if names else ""
        return f"{err.strerror}{where}"
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = text if len(text) <= 300 else text[:297] + "..."
    if type(err).__module__.startswith("tfconv") and text:
        return text  # tfconv's own errors are written to be read as they are
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
