"""The book's example inputs that several sections share."""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N806

from __future__ import annotations

import numpy as np

# The 3x3 input X and 2x2 kernel K of the book's first figure.
BOOK_X = np.arange(9, dtype=np.float32).reshape(3, 3)
BOOK_K = np.arange(4, dtype=np.float32).reshape(2, 2)


def channels_example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """6.4's two-channel input `X`, its two-channel kernel `K`, and `K`, `K + 1`, `K + 2` stacked.

    Returns:
        `X` of shape (2, 3, 3), `K` of shape (2, 2, 2) and the three-output
        kernel of shape (3, 2, 2, 2).
    """
    X = np.stack([BOOK_X, BOOK_X + 1])
    K = np.stack([BOOK_K, BOOK_K + 1])
    return X, K, np.stack([K, K + 1, K + 2])


def edge_image() -> np.ndarray:
    """The book's 6x8 image: white (1) with a black (0) band in columns 2 to 5."""
    X = np.ones((6, 8), dtype=np.float32)
    X[:, 2:6] = 0
    return X
