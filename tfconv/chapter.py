"""The chapter's worked examples and computable exercises, each checked.

Every section recomputes one part of the chapter with tfconv (its ops and its
layers), prints the results the way the book does and checks them against
the numbers the book prints: a mismatch raises `BookMismatchError`, an
`AssertionError`. The exercise sections check their own answers (against a
direct computation or an identity) since the book prints none.

Sections, in the chapter's order (`SECTIONS`): `corr2d`, `edges`,
`learn-kernel`, `padding-stride`, `channels`, `pooling`, `lenet`, then the
exercises `ex-derivatives`, `ex-diagonal`, `ex-matmul`, `ex-compose`,
`ex-pooling` and `ex-cost`.

Example:

>>> results = tfconv.chapter.run(["corr2d"])
== 6.2 The cross-correlation operator ==
corr2d(X, K):
[[19. 25.]
 [37. 43.]]
...
>>> model_cost(tfconv.models.build("lenet")).macs
416520
"""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N803, N806

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from tfconv.models.cost import model_cost

PrintFn = Callable[[str], Any]


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


def _show(print_fn: PrintFn, label: str, value: Any) -> None:
    """Prints `label:` and, on the next lines, the value (arrays as NumPy prints them)."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    print_fn(f"{label}:")
    print_fn(str(value))


def _np(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value)


# --------------------------------------------------------------------------
# The book's examples
# --------------------------------------------------------------------------

# The 3x3 input and 2x2 kernel of the book's first figure.
_X3 = np.arange(9, dtype=np.float32).reshape(3, 3)
_K2 = np.arange(4, dtype=np.float32).reshape(2, 2)


def edge_image() -> np.ndarray:
    """The book's 6x8 image: white (1) with a black (0) band in columns 2 to 5."""
    X = np.ones((6, 8), dtype=np.float32)
    X[:, 2:6] = 0
    return X


def section_corr2d(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2.1: the cross-correlation of the book's 3x3 input with its 2x2 kernel."""
    from tfconv import ops

    terms = " + ".join(
        f"{int(x)} x {int(k)}" for x, k in zip(_X3[:2, :2].ravel(), _K2.ravel(), strict=True)
    )
    print_fn(f"first output element: {terms} = {int((_X3[:2, :2] * _K2).sum())}")
    Y = _np(ops.corr2d(_X3, _K2))
    _show(print_fn, "corr2d(X, K)", Y)
    check_array(Y, [[19, 25], [37, 43]], "corr2d(X, K)")
    return {"Y": Y}


def section_edges(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2.3: the kernel [1, -1] finds the vertical edges of the 6x8 image, not horizontal ones."""
    from tfconv import ops

    X = edge_image()
    _show(print_fn, "X", X)
    K = np.array([[1.0, -1.0]], dtype=np.float32)
    Y = _np(ops.corr2d(X, K))
    _show(print_fn, "Y = corr2d(X, K)", Y)
    expected = np.zeros((6, 7))
    expected[:, 1], expected[:, 5] = 1, -1
    check_array(Y, expected, "corr2d(X, K)")
    Yt = _np(ops.corr2d(X.T, K))
    _show(print_fn, "corr2d(X.T, K)", Yt)
    check_array(Yt, np.zeros((8, 5)), "corr2d(X.T, K)")
    return {"X": X, "Y": Y, "Y_transposed": Yt}


def section_learn_kernel(
    print_fn: PrintFn = print, seed: int = 0, steps: int = 10, lr: float = 3e-2
) -> dict[str, Any]:
    """6.2.4: learns the kernel [1, -1] back from the edge image and its output.

    As in the book: a 1x2 convolution without bias, initialised with small
    random weights, a loss that is the sum of squared errors over the 6x7
    output and plain gradient descent at learning rate 0.03, the loss printed
    every 2 steps (before that step's update).
    """
    import keras
    import tensorflow as tf

    from tfconv import layers, ops

    X = edge_image()
    Y = _np(ops.corr2d(X, [[1.0, -1.0]]))
    # Gluon's default initializer, uniform in [-0.07, 0.07], as in the book's
    # run; Glorot's much wider range would leave an error after 10 steps.
    conv = layers.Conv2D(
        1,
        kernel_size=(1, 2),
        use_bias=False,
        kernel_initializer=keras.initializers.RandomUniform(-0.07, 0.07, seed=seed),
    )
    X4 = tf.constant(X.reshape(1, 6, 8, 1))  # NHWC: batch and channel of 1
    Y4 = tf.constant(Y.reshape(1, 6, 7, 1))
    conv.build(X4.shape)

    # One traced step: called eagerly, tfconv's convolution would rebuild its
    # inner functions on every call, which costs more than the step itself.
    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            Y_hat = conv(X4)
            loss = tf.reduce_sum((Y_hat - Y4) ** 2)  # squared error, summed
        grad = tape.gradient(loss, conv.kernel)
        conv.kernel.assign_sub(lr * grad)  # plain gradient descent
        return loss

    losses = []
    for i in range(steps):
        loss = step()
        losses.append(float(loss))
        if (i + 1) % 2 == 0:
            print_fn(f"batch {i + 1}, loss {float(loss):.3f}")
    kernel = conv.kernel.numpy().reshape(1, 2)
    _show(print_fn, "learned kernel", kernel)
    if steps < 10:
        return {"losses": losses, "kernel": kernel}
    # The book's run: 4.949 (or 5.154) after 2 steps, 0.004 (0.005) after 10.
    check(3.0 < losses[1] < 7.0, f"loss after 2 steps {losses[1]:.3f}, the book has about 5")
    check(losses[-1] < 0.1, f"final loss {losses[-1]:.4f} is not small (book: 0.004)")
    check(
        all(b < a for a, b in zip(losses[1::2], losses[3::2], strict=False)),
        f"the printed losses do not fall: {losses[1::2]}",
    )
    check(
        np.allclose(kernel, [[1.0, -1.0]], atol=0.1),
        f"learned kernel {kernel} is not close to [1, -1] (book: [0.9895, -0.9874])",
    )
    return {"losses": losses, "kernel": kernel}


def section_padding_stride(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.3: output shapes of Conv2D layers with padding and stride on an 8x8 input."""
    from tfconv import layers, ops

    X = np.random.default_rng(0).random((8, 8), dtype=np.float32)
    cases = [
        # (kernel_size, padding, strides, the book's shape)
        (3, 1, 1, (8, 8)),
        ((5, 3), (2, 1), 1, (8, 8)),
        (3, 1, 2, (4, 4)),
        ((3, 5), (0, 1), (3, 4), (2, 2)),
    ]
    shapes = []
    for k, p, s, book in cases:
        conv = layers.Conv2D(1, kernel_size=k, padding=p, strides=s)
        shape = tuple(int(d) for d in conv(X.reshape(1, 8, 8, 1)).shape[1:3])
        formula = ops.conv_output_shape((8, 8), k, p, s)
        print_fn(f"Conv2D(kernel_size={k}, padding={p}, strides={s}): {shape}")
        check(shape == book, f"kernel {k}, padding {p}, stride {s}: {shape}, book {book}")
        check(formula == shape, f"conv_output_shape gives {formula}, the layer {shape}")
        shapes.append(shape)
    # Exercise 1: the last example by the formula floor((n - k + 2p + s) / s).
    h = (8 - 3 + 2 * 0 + 3) // 3
    w = (8 - 5 + 2 * 1 + 4) // 4
    print_fn(f"by the formula: ({8 - 3 + 0 + 3} // 3, {8 - 5 + 2 + 4} // 4) = {(h, w)}")
    check((h, w) == shapes[-1], "the formula disagrees with the layer")
    return {"shapes": shapes}


def section_channels(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.4: multi-input and multi-output channels; a 1x1 convolution is a matrix product."""
    from tfconv import ops

    X = np.stack([_X3, _X3 + 1])
    K = np.stack([_K2, _K2 + 1])
    Y = _np(ops.corr2d_multi_in(X, K))
    _show(print_fn, "corr2d_multi_in(X, K)", Y)
    check_array(Y, [[56, 72], [104, 120]], "corr2d_multi_in(X, K)")
    K3 = np.stack([K, K + 1, K + 2])
    print_fn(f"K.shape: {K3.shape}")
    check(K3.shape == (3, 2, 2, 2), f"stacked kernel shape {K3.shape}")
    Y3 = _np(ops.corr2d_multi_in_out(X, K3))
    _show(print_fn, "corr2d_multi_in_out(X, K)", Y3)
    book = [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]]
    check_array(Y3, book, "corr2d_multi_in_out(X, K)")

    rng = np.random.default_rng(0)
    Xr = rng.uniform(size=(3, 3, 3)).astype(np.float32)
    Kr = rng.uniform(size=(2, 3, 1, 1)).astype(np.float32)
    Y1 = _np(ops.corr2d_multi_in_out_1x1(Xr, Kr))
    Y2 = _np(ops.corr2d_multi_in_out(Xr, Kr))
    total = float(np.abs(Y1 - Y2).sum())
    print_fn(f"np.abs(Y1 - Y2).sum() < 1e-6: {total < 1e-6}")
    check(total < 1e-6, f"1x1 convolution and matrix product differ by {total}")
    # Exercise 5: equal up to float32 rounding; exactly equal only if the two
    # products happen to sum in the same order.
    print_fn(f"Y1 and Y2 bitwise equal: {bool(np.array_equal(Y1, Y2))}")
    return {"Y": Y, "Y3": Y3, "diff_1x1": total}


def section_pooling(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.5: max and average pooling, padding and stride, several channels."""
    from tfconv import layers, ops

    Ym = _np(ops.pool2d(_X3, (2, 2)))
    _show(print_fn, "pool2d(X, (2, 2))", Ym)
    check_array(Ym, [[4, 5], [7, 8]], "max pooling")
    Ya = _np(ops.pool2d(_X3, (2, 2), "avg"))
    _show(print_fn, "pool2d(X, (2, 2), 'avg')", Ya)
    check_array(Ya, [[2, 3], [5, 6]], "average pooling")

    X = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # NHWC
    cases = [
        ("MaxPool2D(3)", layers.MaxPool2D(3), [[10]]),
        (
            "MaxPool2D(3, padding=1, strides=2)",
            layers.MaxPool2D(3, 2, padding=1),
            [[5, 7], [13, 15]],
        ),
        (
            "MaxPool2D((2, 3), padding=(1, 2), strides=(2, 3))",
            layers.MaxPool2D((2, 3), (2, 3), padding=(1, 2)),
            [[0, 3], [8, 11], [12, 15]],
        ),
    ]
    results = {}
    for label, pool, book in cases:
        Y = _np(pool(X))[0, :, :, 0]
        _show(print_fn, label, Y)
        check_array(Y, book, label)
        results[label] = Y
    X2 = np.concatenate([X, X + 1], axis=-1)
    Y2 = np.transpose(_np(layers.MaxPool2D(3, 2, padding=1)(X2))[0], (2, 0, 1))
    _show(print_fn, "MaxPool2D(3, padding=1, strides=2) of 2 channels", Y2)
    check_array(Y2, [[[5, 7], [13, 15]], [[6, 8], [14, 16]]], "two-channel pooling")
    return {"max": Ym, "avg": Ya, "layers": results, "channels": Y2}


# NCHW, as the book prints them (its Dense layers flatten on their own).
BOOK_LENET_SHAPES = [
    (1, 6, 28, 28),
    (1, 6, 14, 14),
    (1, 16, 10, 10),
    (1, 16, 5, 5),
    (1, 120),
    (1, 84),
    (1, 10),
]


def section_lenet(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.6: LeNet's output shape layer by layer, its parameters and its cost per example."""
    from tfconv import models

    model = models.build("lenet")
    rows = models.summary(model, print_fn=print_fn)
    nchw = [
        (s[0], s[3], s[1], s[2]) if len(s) == 4 else s for name, s in rows if name != "Flatten"
    ]
    check(nchw == BOOK_LENET_SHAPES, f"LeNet shapes (as NCHW) {nchw}, book {BOOK_LENET_SHAPES}")
    params = model.count_params()
    print_fn(f"parameters: {params}")
    expected = (
        (25 * 6 + 6) + (150 * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    )
    check(params == expected, f"LeNet has {params} parameters, expected {expected}")
    cost = model_cost(model)
    print_fn(
        f"forward pass per example: {cost.macs:,} multiply-adds, "
        f"{cost.flops:,} FLOPs ({cost.flops / 1e6:.2f} MFLOPs)"
    )
    return {"rows": rows, "params": params, "cost": cost}


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------


def finite_difference_kernel(d: int) -> np.ndarray:
    """The 1 x (d + 1) kernel of the d-th forward difference, the smallest for degree d."""
    return np.array([[(-1) ** (d - k) * math.comb(d, k) for k in range(d + 1)]], np.float32)


def section_ex_derivatives(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.2 exercise 4: kernels for the second derivative, the Laplacian and integrals."""
    from tfconv import ops

    i, j = np.meshgrid(np.arange(6.0), np.arange(8.0), indexing="ij")
    K2 = finite_difference_kernel(2)
    _show(print_fn, "second derivative along the width, kernel", K2)
    D2 = _np(ops.corr2d((j**2).astype(np.float32), K2))
    _show(print_fn, "applied to X[i, j] = j**2 (d2/dj2 = 2)", D2)
    check_array(D2, np.full((6, 6), 2.0), "second difference of j**2")

    L = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
    _show(print_fn, "Laplace kernel", L)
    Lq = _np(ops.corr2d((i**2 + j**2).astype(np.float32), L))
    _show(print_fn, "applied to X[i, j] = i**2 + j**2 (Laplacian = 4)", Lq)
    check_array(Lq, np.full((4, 6), 4.0), "Laplacian of i**2 + j**2")
    Ll = _np(ops.corr2d((3 * i - 2 * j + 1).astype(np.float32), L))
    check_array(Ll, np.zeros((4, 6)), "Laplacian of a linear image")
    Le = _np(ops.corr2d(edge_image(), L))
    _show(print_fn, "applied to the edge image (both sides of each edge light up)", Le)
    check_array(Le, np.tile([-1.0, 1, 0, 0, 1, -1], (4, 1)), "Laplacian of the edge image")

    # Integral: a kernel of ones sums its window (a discrete integral); its
    # width is the integration range.
    ramp = np.tile(np.arange(8.0, dtype=np.float32), (2, 1))
    box = _np(ops.corr2d(ramp, np.ones((1, 3), np.float32)))
    _show(print_fn, "kernel [[1, 1, 1]] on a ramp 0..7 (sums of 3 neighbours)", box)
    check_array(box, np.tile(np.arange(1, 7) * 3.0, (2, 1)), "box sums")

    # Degree d needs d + 1 taps: the d-th difference of j**d is d! everywhere.
    row = np.arange(12.0)[None, :]
    for d in range(1, 5):
        K = finite_difference_kernel(d)
        out = _np(ops.corr2d((row**d).astype(np.float32), K))
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
    from tfconv import ops

    X = diagonal_image()
    K = np.array([[1.0, -1.0]], np.float32)
    _show(print_fn, "X (diagonal edge)", X)
    Y = _np(ops.corr2d(X, K))
    _show(print_fn, "corr2d(X, K)", Y)
    Yt = _np(ops.corr2d(X.T, K))
    _show(print_fn, "corr2d(X.T, K)", Yt)
    Yk = _np(ops.corr2d(X, K.T))
    _show(print_fn, "corr2d(X, K.T)", Yk)
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
    from tfconv import ops

    W = corr2d_matrix(_K2, (3, 3))
    _show(print_fn, "W for the 2x2 kernel on a 3x3 input (4 x 9)", W.astype(np.float32))
    Y = (W @ _X3.ravel()).reshape(2, 2)
    _show(print_fn, "(W @ X.ravel()).reshape(2, 2)", Y.astype(np.float32))
    check_array(Y, [[19, 25], [37, 43]], "W @ vec(X)")
    P = im2col(_X3, (2, 2))
    _show(print_fn, "im2col(X): one window per row", P.astype(np.float32))
    check_array((P @ _K2.ravel()).reshape(2, 2), [[19, 25], [37, 43]], "im2col(X) @ vec(K)")

    rng = np.random.default_rng(0)
    Xr = rng.standard_normal((6, 8)).astype(np.float32)
    Kr = rng.standard_normal((3, 3)).astype(np.float32)
    ref = _np(ops.corr2d(Xr, Kr))
    check_array(corr2d_matrix(Kr, (6, 8)) @ Xr.ravel(), ref.ravel(), "W @ vec(X), 6x8", 1e-4)
    check_array(im2col(Xr, (3, 3)) @ Kr.ravel(), ref.ravel(), "im2col @ vec(K), 6x8", 1e-4)
    print_fn("random 6x8 input, 3x3 kernel: W @ vec(X) == im2col(X) @ vec(K) == corr2d: True")

    # Several channels: one matrix product of the windows with the flattened kernels.
    X = np.stack([_X3, _X3 + 1])
    K = np.stack([_K2, _K2 + 1])
    K3 = np.stack([K, K + 1, K + 2])
    Ymc = (im2col(X, (2, 2)) @ K3.reshape(3, -1).T).T.reshape(3, 2, 2)
    check_array(Ymc, _np(ops.corr2d_multi_in_out(X, K3)), "multi-channel im2col")
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
    from tfconv import ops

    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 9)).astype(np.float32)
    K1 = rng.standard_normal((2, 2)).astype(np.float32)
    K2 = rng.standard_normal((3, 3)).astype(np.float32)
    K = compose_kernels(K1, K2)
    twice = _np(ops.corr2d(ops.corr2d(X, K1), K2))
    once = _np(ops.corr2d(X, K.astype(np.float32)))
    print_fn(f"kernels {K1.shape} then {K2.shape} = one kernel {K.shape}")
    check(K.shape == (4, 4), f"composed kernel shape {K.shape}")
    check_array(once, twice, "corr2d(X, K1 * K2) vs corr2d(corr2d(X, K1), K2)", 1e-4)
    print_fn(f"max |difference|: {float(np.abs(once - twice).max()):.2e}")
    # The converse fails in general: 2*2 + 3*3 = 13 numbers cannot reach
    # every one of the 16 entries of a 4x4 kernel.
    print_fn("converse: a 4x4 kernel has 16 entries, a 2x2 and a 3x3 kernel only 13")
    return {"K": K}


def section_ex_pooling(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.5 exercises: average pooling is a convolution, max pooling is not linear."""
    import tensorflow as tf

    from tfconv import layers, ops

    rng = np.random.default_rng(2)
    X = rng.standard_normal((1, 6, 6, 3)).astype(np.float32)  # NHWC, 3 channels
    c = X.shape[-1]
    # Exercise 1: a 2x2, stride-2 convolution whose kernel is 1/4 on its own
    # channel and 0 across channels is 2x2 average pooling.
    conv = layers.Conv2D(c, 2, strides=2, use_bias=False)
    conv.build(X.shape)
    conv.kernel.assign(np.einsum("ab,io->abio", np.full((2, 2), 0.25), np.eye(c)))
    by_conv = _np(conv(X))
    by_pool = _np(layers.AvgPool2D(2)(X))
    check_array(by_conv, by_pool, "average pooling as a convolution")
    print_fn("2x2 average pooling == Conv2D(kernel 1/4 per channel, stride 2): True")

    # Exercise 2: a convolution is linear, max pooling is not.
    a = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)
    pool_sum = float(_np(ops.pool2d(a + b, 2))[0, 0])
    sum_pool = float(_np(ops.pool2d(a, 2))[0, 0] + _np(ops.pool2d(b, 2))[0, 0])
    print_fn(f"maxpool(a + b) = {pool_sum:g}, maxpool(a) + maxpool(b) = {sum_pool:g}")
    check(pool_sum != sum_pool, "max pooling behaved linearly")
    neg = float(_np(ops.pool2d(-a, 2))[0, 0]) + 0.0  # no "-0" printed
    print_fn(f"maxpool(-a) = {neg:g}, -maxpool(a) = {-float(_np(ops.pool2d(a, 2))[0, 0]):g}")
    print_fn("so max pooling is no convolution; conv + ReLU layers can compute it:")
    # max(p, q) = relu(p - q) + relu(q) - relu(-q): a 1x2 convolution with 3
    # outputs, ReLU, then a 1x1 convolution; once along each axis.
    stage_w = np.zeros((1, 2, c, 3 * c), np.float32)
    stage_h = np.zeros((2, 1, c, 3 * c), np.float32)
    mix = np.zeros((1, 1, 3 * c, c), np.float32)
    for ch in range(c):
        for stage in (stage_w, stage_h):
            s = stage.reshape(2, c, 3 * c)
            s[:, ch, 3 * ch] = [1, -1]  # p - q
            s[1, ch, 3 * ch + 1] = 1  # q
            s[1, ch, 3 * ch + 2] = -1  # -q
        mix[0, 0, 3 * ch : 3 * ch + 3, ch] = [1, 1, -1]

    def fixed_conv(kernel: np.ndarray, strides: tuple[int, int], x: Any) -> Any:
        layer = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides, use_bias=False)
        layer.build(x.shape)
        layer.kernel.assign(kernel)
        return layer(x)

    h = fixed_conv(mix, (1, 1), tf.nn.relu(fixed_conv(stage_w, (1, 2), X)))
    h = fixed_conv(mix, (1, 1), tf.nn.relu(fixed_conv(stage_h, (2, 1), h)))
    check_array(_np(h), _np(layers.MaxPool2D(2)(X)), "max pooling from conv + ReLU", 1e-5)
    print_fn("2x2 max pooling == (conv 1x2/2, ReLU, conv 1x1, conv 2x1/2, ReLU, conv 1x1): True")

    # Exercise 5: min pooling is max pooling of the negated input, negated.
    mins = -_np(ops.pool2d(-_X3, 2, stride=1))
    _show(print_fn, "min pooling of X = -maxpool(-X)", mins)
    check_array(mins, [[0, 1], [3, 4]], "min pooling")

    # Exercise 6: softmax-weighted pooling lies between the two: the mean for
    # a high temperature, the maximum for a low one (but needs exp per cell).
    windows = np.stack(
        [_X3[i : i + 2, j : j + 2].ravel() for i in range(2) for j in range(2)]
    ).astype(np.float64)
    soft = {}
    for t in (100.0, 1.0, 0.01):
        weights = np.exp((windows - windows.max(axis=1, keepdims=True)) / t)
        weights /= weights.sum(axis=1, keepdims=True)
        soft[t] = (weights * windows).sum(axis=1).reshape(2, 2)
        print_fn(f"softmax pooling, temperature {t:g}: {np.round(soft[t], 3).tolist()}")
    check(np.allclose(soft[100.0], [[2, 3], [5, 6]], atol=0.05), "hot softmax pool != mean")
    check(np.allclose(soft[0.01], [[4, 5], [7, 8]], atol=1e-6), "cold softmax pool != max")

    # Exercise 3: a pooling layer costs one operation per window cell and output.
    n_out = c * 3 * 3
    print_fn(
        f"pooling cost of a {c}x6x6 input, 2x2 windows, stride 2: {n_out} outputs "
        f"x 4 cells = {n_out * 4} operations"
    )
    return {"soft": soft}


def section_ex_cost(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.4 exercises 2-4 and 6.5 exercise 3: what convolutions and LeNet cost."""
    from tfconv import models, ops

    base = ops.conv_cost(6, 16, 14, 14, 5)  # LeNet's second convolution
    print_fn("conv 6 -> 16 channels, 5x5 kernel, 14x14 input (LeNet's conv2), per example:")
    print_fn(
        f"  forward: {base.forward_macs:,} multiply-adds ({base.forward_flops:,} FLOPs), "
        f"memory {base.forward_bytes:,} bytes"
    )
    print_fn(
        f"  backward: {base.backward_macs:,} multiply-adds (input grad "
        f"{base.backward_input_macs:,} + kernel grad {base.backward_kernel_macs:,}), "
        f"memory {base.backward_bytes:,} bytes"
    )
    check(base.forward_macs == 10 * 10 * 16 * 6 * 25, "conv2 forward MACs")
    check(base.backward_macs == 2 * base.forward_macs, "backward MACs")
    doubled = ops.conv_cost(12, 32, 14, 14, 5)
    factor = doubled.forward_macs / base.forward_macs
    print_fn(f"doubling c_i and c_o: x{factor:g} multiply-adds")
    check(factor == 4, f"doubling both channel counts gives x{factor}, expected x4")
    padded = ops.conv_cost(6, 16, 14, 14, 5, p=2)
    padded2 = ops.conv_cost(6, 16, 14, 14, 5, p=4)
    print_fn(
        f"padding 2 -> 4: output {padded.output_hw} -> {padded2.output_hw}, "
        f"x{padded2.forward_macs / padded.forward_macs:.3f} multiply-adds"
    )
    check(
        math.isclose(padded2.forward_macs / padded.forward_macs, (18 / 14) ** 2), "padding factor"
    )
    one = ops.conv_cost(6, 16, 14, 14, 1)
    print_fn(f"1x1 kernel: c_i * c_o * h * w = {one.forward_macs:,} multiply-adds")
    check(one.forward_macs == 6 * 16 * 14 * 14, "1x1 cost")

    model = models.build("lenet")
    cost = model_cost(model)
    print_fn("LeNet, one example, forward:")
    for row in cost.layers:
        print_fn(
            f"  {row.name:8s} {row.kind:6s} {row.output_shape!s:14s} "
            f"MACs {row.macs:>9,}  other ops {row.ops:>6,}  params {row.params:>7,}"
        )
    print_fn(
        f"  total: {cost.macs:,} multiply-adds, {cost.flops:,} FLOPs, {cost.params:,} parameters"
    )
    check(cost.params == model.count_params(), "parameters counted != model.count_params()")
    convs = ops.conv_cost(1, 6, 28, 28, 5, p=2).forward_macs + base.forward_macs
    check(sum(r.macs for r in cost.layers if r.kind == "conv") == convs, "LeNet conv MACs")
    check(cost.macs == 416_520, f"LeNet MACs {cost.macs}, expected 416,520")
    return {"conv2": base, "lenet": cost}


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


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
    import argparse
    import sys

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
