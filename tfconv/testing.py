"""Plain NumPy loop implementations of the chapter's operations: the reference
that tfconv's ops are checked and benchmarked against.

The independent oracle for the tests and `tfconv.bench`'s ops section: written
as literally as possible, one output element at a time, in float64, sharing no
code with the rest of `tfconv` (it imports nothing from it). Shapes follow the
book (channels first).
"""

from __future__ import annotations

import numpy as np


def _pair(value):
    return (value, value) if np.isscalar(value) else tuple(value)


def corr2d(X, K):
    """(h, w) correlated with (kh, kw) -> (h - kh + 1, w - kw + 1)."""
    X, K = np.asarray(X, np.float64), np.asarray(K, np.float64)
    kh, kw = K.shape
    Y = np.zeros((X.shape[0] - kh + 1, X.shape[1] - kw + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    total += X[i + a, j + b] * K[a, b]
            Y[i, j] = total
    return Y


def corr2d_multi_in(X, K):
    """(ci, h, w) with (ci, kh, kw) -> one output channel."""
    return sum(corr2d(x, k) for x, k in zip(X, K, strict=True))


def corr2d_multi_in_out(X, K):
    """(ci, h, w) with (co, ci, kh, kw) -> (co, ho, wo)."""
    return np.stack([corr2d_multi_in(X, k) for k in K])


def pool2d(X, pool_size, mode="max", padding=0, stride=1):
    """Pooling of (h, w) or (c, h, w) input; stride 1 as in the book, `None` = the window.

    Padding is per side. Max pooling looks at real cells only; average pooling
    sums the real cells and divides by the full window size, so padded cells
    count as zeros.
    """
    X = np.asarray(X, np.float64)
    if X.ndim == 3:
        return np.stack([pool2d(x, pool_size, mode, padding, stride) for x in X])
    (kh, kw), (ph, pw) = _pair(pool_size), _pair(padding)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    h, w = X.shape
    ho = (h - kh + 2 * ph + sh) // sh
    wo = (w - kw + 2 * pw + sw) // sw
    Y = np.zeros((ho, wo))
    for i in range(ho):
        for j in range(wo):
            cells = []
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh + a - ph, j * sw + b - pw
                    if 0 <= r < h and 0 <= c < w:
                        cells.append(X[r, c])
            if mode == "max":
                Y[i, j] = max(cells)
            else:
                Y[i, j] = sum(cells) / (kh * kw)
    return Y
