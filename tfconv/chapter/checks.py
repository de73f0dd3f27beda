"""How a section checks its results: `check` and `check_array` raise `BookMismatchError`."""

from __future__ import annotations

from typing import Any

import numpy as np


class BookMismatchError(AssertionError):
    """A section's result differs from the book's (or fails its own check)."""


def check(condition: Any, message: str) -> None:
    """Raises `BookMismatchError(message)` unless `condition` holds.

    Unlike an `assert` statement, this also runs under `python -O`.
    """
    if not bool(condition):
        raise BookMismatchError(message)


def check_array(actual: Any, expected: Any, what: str, atol: float = 1e-5) -> None:
    """Checks shape and values of `actual` against `expected` (the book's numbers)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    check(
        actual.shape == expected.shape,
        f"{what}: shape {actual.shape}, the book has {expected.shape}",
    )
    check(
        np.allclose(actual, expected, atol=atol, rtol=0),
        f"{what}: got\n{actual}\nthe book has\n{expected}",
    )
