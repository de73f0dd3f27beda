"""The book's example inputs that several sections share."""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N806

from __future__ import annotations

import numpy as np

# The 3x3 input X and 2x2 kernel K of the book's first figure.
BOOK_X = np.arange(9, dtype=np.float32).reshape(3, 3)
BOOK_K = np.arange(4, dtype=np.float32).reshape(2, 2)


def edge_image() -> np.ndarray:
    """The book's 6x8 image: white (1) with a black (0) band in columns 2 to 5."""
    X = np.ones((6, 8), dtype=np.float32)
    X[:, 2:6] = 0
    return X
