"""The cross-correlation exercises (6.2, 6.4): derivatives, diagonals, matrices, composition."""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfconv import ops
from tfconv.chapter.checks import check, check_array
from tfconv.chapter.inputs import BOOK_K, BOOK_X, channels_example, edge_image
from tfconv.chapter.printing import PrintFn, as_numpy, show


def finite_difference_kernel(d: int) -> np.ndarray:
    """The 1 x (d + 1) kernel of the d-th forward difference, the smallest for degree d."""
    return np.array([[(-1) ** (d - k) * math.comb(d, k) for k in range(d + 1)]], np.float32)


def section_ex_derivatives(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2 exercise 4: kernels for the second derivative, the Laplacian and integrals."""
    i, j = np.meshgrid(np.arange(6.0), np.arange(8.0), indexing="ij")
    K2 = finite_difference_kernel(2)
    show(print_fn, "second derivative along the width, kernel", K2)
    D2 = as_numpy(ops.corr2d((j**2).astype(np.float32), K2))
    show(print_fn, "applied to X[i, j] = j**2 (d2/dj2 = 2)", D2)
    check_array(D2, np.full((6, 6), 2.0), "second difference of j**2")

    L = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    show(print_fn, "Laplace kernel", L)
    Lq = as_numpy(ops.corr2d((i**2 + j**2).astype(np.float32), L))
    show(print_fn, "applied to X[i, j] = i**2 + j**2 (Laplacian = 4)", Lq)
    check_array(Lq, np.full((4, 6), 4.0), "Laplacian of i**2 + j**2")
    Ll = as_numpy(ops.corr2d((3 * i - 2 * j + 1).astype(np.float32), L))
    check_array(Ll, np.zeros((4, 6)), "Laplacian of a linear image")
    Le = as_numpy(ops.corr2d(edge_image(), L))
    show(print_fn, "applied to the edge image (both sides of each edge light up)", Le)
    check_array(Le, np.tile([-1.0, 1, 0, 0, 1, -1], (4, 1)), "Laplacian of the edge image")

    # Integral: a kernel of ones sums its window (a discrete integral); its
    # width is the integration range.
    ramp = np.tile(np.arange(8.0, dtype=np.float32), (2, 1))
    box = as_numpy(ops.corr2d(ramp, np.ones((1, 3), np.float32)))
    show(print_fn, "kernel [[1, 1, 1]] on a ramp 0..7 (sums of 3 neighbours)", box)
    check_array(box, np.tile(np.arange(1, 7) * 3.0, (2, 1)), "box sums")

    # Degree d needs d + 1 taps: the d-th difference of j**d is d! everywhere.
    row = np.arange(12.0)[None, :]
    for d in range(1, 5):
        K = finite_difference_kernel(d)
        out = as_numpy(ops.corr2d((row**d).astype(np.float32), K))
        print_fn(
            f"degree {d}: kernel {K[0].astype(int).tolist()} (size {d + 1}), "
            f"applied to j**{d} gives {out[0, 0]:g} = {d}!"
        )
        check(np.allclose(out, math.factorial(d)), f"d-th difference of j**{d}: {out}")
    return {"second": D2, "laplace": Lq, "edge_laplace": Le}


def diagonal_image(h: int = 6, w: int = 8) -> np.ndarray:
    """A 0/1 image with a diagonal edge: ones strictly right of the main diagonal."""
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return (j > i).astype(np.float32)


def section_ex_diagonal(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2 exercise 1: an image with a diagonal edge under K, its transpose, and K transposed."""
    X = diagonal_image()
    K = np.array([[1.0, -1.0]], np.float32)
    show(print_fn, "X (diagonal edge)", X)
    Y = as_numpy(ops.corr2d(X, K))
    show(print_fn, "corr2d(X, K)", Y)
    Yt = as_numpy(ops.corr2d(X.T, K))
    show(print_fn, "corr2d(X.T, K)", Yt)
    Yk = as_numpy(ops.corr2d(X, K.T))
    show(print_fn, "corr2d(X, K.T)", Yk)
    # A diagonal edge is partly vertical: K sees it (one -1 per row, on the
    # diagonal), and so do the transposed image and the transposed kernel.
    check_array(Y, -np.eye(6, 7), "corr2d(X, K)")
    check_array(Yt, np.eye(8, 5, k=-1), "corr2d(X.T, K)")
    check_array(Yk, np.eye(5, 8, k=1), "corr2d(X, K.T)")
    check_array(Yk, Yt.T, "corr2d(X, K.T) vs corr2d(X.T, K).T")
    print_fn("corr2d(X, K.T) == corr2d(X.T, K).T: True")
    return {"X": X, "Y": Y, "Y_transposed_X": Yt, "Y_transposed_K": Yk}


def corr2d_matrix(K: Any, input_hw: tuple[int, int]) -> np.ndarray:
    """The matrix `W` with `W @ X.ravel() == corr2d(X, K).ravel()` for every `(h, w)` input.

    Row `i * w_o + j` holds the kernel at the positions of window `(i, j)` in
    the flattened input, zeros elsewhere: a sparse, banded matrix with the
    same weights repeated in every row.
    """
    K = np.asarray(K, np.float64)
    h, w = input_hw
    k_h, k_w = K.shape
    h_o, w_o = h - k_h + 1, w - k_w + 1
    W = np.zeros((h_o * w_o, h * w))
    for i in range(h_o):
        for j in range(w_o):
            for a in range(k_h):
                W[i * w_o + j, (i + a) * w + j : (i + a) * w + j + k_w] = K[a]
    return W


def im2col(X: Any, k_hw: tuple[int, int]) -> np.ndarray:
    """The windows of a `(c, h, w)` (or `(h, w)`) input as rows: `(h_o * w_o, c * k_h * k_w)`."""
    X = np.asarray(X, np.float64)
    if X.ndim == 2:
        X = X[None]
    c, h, w = X.shape
    k_h, k_w = k_hw
    h_o, w_o = h - k_h + 1, w - k_w + 1
    rows = [X[:, i : i + k_h, j : j + k_w].ravel() for i in range(h_o) for j in range(w_o)]
    return np.array(rows).reshape(h_o * w_o, c * k_h * k_w)


def section_ex_matmul(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2 exercise 3 and 6.4 exercise 6: cross-correlation as a matrix product."""
    W = corr2d_matrix(BOOK_K, (3, 3))
    show(print_fn, "W for the 2x2 kernel on a 3x3 input (4 x 9)", W.astype(np.float32))
    Y = (W @ BOOK_X.ravel()).reshape(2, 2)
    show(print_fn, "(W @ X.ravel()).reshape(2, 2)", Y.astype(np.float32))
    check_array(Y, [[19, 25], [37, 43]], "W @ vec(X)")
    P = im2col(BOOK_X, (2, 2))
    show(print_fn, "im2col(X): one window per row", P.astype(np.float32))
    check_array((P @ BOOK_K.ravel()).reshape(2, 2), [[19, 25], [37, 43]], "im2col(X) @ vec(K)")

    rng = np.random.default_rng(0)
    Xr = rng.standard_normal((6, 8)).astype(np.float32)
    Kr = rng.standard_normal((3, 3)).astype(np.float32)
    ref = as_numpy(ops.corr2d(Xr, Kr))
    check_array(corr2d_matrix(Kr, (6, 8)) @ Xr.ravel(), ref.ravel(), "W @ vec(X), 6x8", 1e-4)
    check_array(im2col(Xr, (3, 3)) @ Kr.ravel(), ref.ravel(), "im2col @ vec(K), 6x8", 1e-4)
    print_fn("random 6x8 input, 3x3 kernel: W @ vec(X) == im2col(X) @ vec(K) == corr2d: True")

    # Several channels: one matrix product of the windows with the flattened kernels.
    X, _, K3 = channels_example()
    Ymc = (im2col(X, (2, 2)) @ K3.reshape(3, -1).T).T.reshape(3, 2, 2)
    check_array(Ymc, as_numpy(ops.corr2d_multi_in_out(X, K3)), "multi-channel im2col")
    print_fn("multi-channel: im2col(X) @ K.reshape(c_o, -1).T == corr2d_multi_in_out: True")
    return {"W": W, "im2col": P}


def compose_kernels(K1: Any, K2: Any) -> np.ndarray:
    """The single kernel equal to correlating with `K1`, then with `K2`.

    Size `(k1_h + k2_h - 1, k1_w + k2_w - 1)`: the full 2-D convolution of the
    two kernels.
    """
    K1, K2 = np.asarray(K1, np.float64), np.asarray(K2, np.float64)
    out = np.zeros((K1.shape[0] + K2.shape[0] - 1, K1.shape[1] + K2.shape[1] - 1))
    for a in range(K2.shape[0]):
        for b in range(K2.shape[1]):
            out[a : a + K1.shape[0], b : b + K1.shape[1]] += K2[a, b] * K1
    return out


def section_ex_compose(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.4 exercise 1: two convolutions in a row are one convolution of size k1 + k2 - 1."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 9)).astype(np.float32)
    K1 = rng.standard_normal((2, 2)).astype(np.float32)
    K2 = rng.standard_normal((3, 3)).astype(np.float32)
    K = compose_kernels(K1, K2)
    twice = as_numpy(ops.corr2d(ops.corr2d(X, K1), K2))
    once = as_numpy(ops.corr2d(X, K.astype(np.float32)))
    print_fn(f"kernels {K1.shape} then {K2.shape} = one kernel {K.shape}")
    check(K.shape == (4, 4), f"composed kernel shape {K.shape}")
    check_array(once, twice, "corr2d(X, K1 * K2) vs corr2d(corr2d(X, K1), K2)", 1e-4)
    print_fn(f"max |difference|: {float(np.abs(once - twice).max()):.2e}")
    # The converse fails in general: 2*2 + 3*3 = 13 numbers cannot reach
    # every one of the 16 entries of a 4x4 kernel.
    print_fn("converse: a 4x4 kernel has 16 entries, a 2x2 and a 3x3 kernel only 13")
    return {"K": K}
