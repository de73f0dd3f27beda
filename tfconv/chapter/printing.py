"""How a section prints a value: a `label:` line, then the value as NumPy prints it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PrintFn = Callable[[str], Any]


def as_numpy(value: Any) -> np.ndarray:
    """`value` (a tensor, an array or nested lists) as a NumPy array."""
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


def show(print_fn: PrintFn, label: str, value: Any) -> None:
    """Prints `label:` and, on the next lines, the value (arrays as NumPy prints them)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    print_fn(f"{label}:")
    print_fn(str(value))
