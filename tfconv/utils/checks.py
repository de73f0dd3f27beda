"""Argument checks shared by every config and command.

Each check returns the normalised value or raises a `ValueError` whose
message names the argument and ends `Received: name=value`, the form Keras
uses, so that a bad JSON key, CLI flag or tuner value is obvious.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, but not for bools."""
    # bool is an int subclass, but `True` channels is always a mistake.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(choices)}. Received: {name}={value!r}"
        )
    return value


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """`value` as an int if it is an integer >= `minimum`."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def check_number(
    name: str,
    value: Any,
    minimum: float | None = None,
    strict: bool = False,
    integer: bool = False,
    maximum: float | None = None,
    strict_max: bool = False,
) -> Any:
    """`value` if it is a finite number (an int with `integer`) within the bounds.

    `strict` makes `minimum` itself invalid (`> minimum` rather than `>=`),
    `strict_max` likewise `maximum` (a rate of 1 or a split that empties one
    side). `None` leaves that side unbounded.
    """
    ok = is_int(value) if integer else is_int(value) or isinstance(value, (float, np.floating))
    # NaN compares false with everything, so it must be refused by name.
    if (
        not ok
        or not math.isfinite(value)
        or (minimum is not None and (value < minimum or (strict and value == minimum)))
        or (maximum is not None and (value > maximum or (strict_max and value == maximum)))
    ):
        bounds = []
        if minimum is not None:
            bounds.append(f"> {minimum}" if strict else f">= {minimum}")
        if maximum is not None:
            bounds.append(f"< {maximum}" if strict_max else f"<= {maximum}")
        what = "an integer" if integer else "a finite number"
        what = " ".join([what, " and ".join(bounds)]) if bounds else what
        raise ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")
    return value


def check_int_tuple(name: str, value: Any, allow_empty: bool = False) -> tuple[int, ...]:
    """`value` as a tuple of ints >= 1 (a list is accepted too)."""
    if not isinstance(value, (tuple, list)) or not all(is_int(v) and v >= 1 for v in value):
        raise ValueError(f"`{name}` must be a tuple of positive ints. Received: {name}={value!r}")
    if not value and not allow_empty:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    return tuple(int(v) for v in value)


def check_flag(name: str, value: Any) -> bool:
    """`value` as a bool if it is one (NumPy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)
