"""The chapter's pooling exercises (6.5): average pooling is a convolution, max pooling is not."""

# The chapter's notation (X, K, Y, ...) is kept, as in tfconv.ops.
# ruff: noqa: N803, N806

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from tfconv import layers, ops
from tfconv.chapter.checks import check, check_array
from tfconv.chapter.inputs import BOOK_X
from tfconv.chapter.printing import PrintFn, as_numpy, show


def section_ex_pooling(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.5 exercises: average pooling is a convolution, max pooling is not linear."""
    X = np.random.default_rng(2).standard_normal((1, 6, 6, 3)).astype(np.float32)  # NHWC
    _average_pooling_is_a_convolution(X, print_fn)
    _max_pooling_is_not_linear(print_fn)
    _max_pooling_from_conv_and_relu(X, print_fn)
    _min_pooling(print_fn)
    soft = _softmax_pooling(print_fn)
    _pooling_cost(X.shape[-1], print_fn)
    return {"soft": soft}


def _fixed_conv(kernel: np.ndarray, strides: tuple[int, int], x: Any) -> Any:
    """`x` through a bias-free tfconv `Conv2D` whose weights are `kernel` (HWIO)."""
    layer = layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides, use_bias=False)
    layer.build(x.shape)
    layer.kernel.assign(kernel)
    return layer(x)


def _average_pooling_is_a_convolution(X: np.ndarray, print_fn: PrintFn) -> None:
    """Exercise 1: 2x2 average pooling is a 2x2, stride-2 convolution.

    Its kernel is 1/4 from each channel to itself and 0 across channels.
    """
    c = X.shape[-1]
    kernel = np.einsum("ab,io->abio", np.full((2, 2), 0.25), np.eye(c)).astype(np.float32)
    by_conv = as_numpy(_fixed_conv(kernel, (2, 2), X))
    by_pool = as_numpy(layers.AvgPool2D(2)(X))
    check_array(by_conv, by_pool, "average pooling as a convolution")
    print_fn("2x2 average pooling == Conv2D(kernel 1/4 per channel, stride 2): True")


def _max_pooling_is_not_linear(print_fn: PrintFn) -> None:
    """Exercise 2: a convolution is linear, max pooling is not."""
    a = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    b = np.array([[0.0, 1.0], [0.0, 0.0]], np.float32)

    def maxpool(x: np.ndarray) -> float:
        return float(as_numpy(ops.pool2d(x, 2))[0, 0])

    pool_sum, sum_pool = maxpool(a + b), maxpool(a) + maxpool(b)
    print_fn(f"maxpool(a + b) = {pool_sum:g}, maxpool(a) + maxpool(b) = {sum_pool:g}")
    check(pool_sum != sum_pool, "max pooling behaved linearly")
    neg = maxpool(-a) + 0.0  # no "-0" printed
    print_fn(f"maxpool(-a) = {neg:g}, -maxpool(a) = {-maxpool(a):g}")
    print_fn("so max pooling is no convolution; conv + ReLU layers can compute it:")


def _max_kernels(c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The HWIO kernels of a pairwise maximum along the width, along the height, and the mix.

    max(p, q) = relu(p - q) + relu(q) - relu(-q): a 1x2 (or 2x1) convolution
    with 3 outputs per channel, ReLU, then the 1x1 `mix` convolution.
    """
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
    return stage_w, stage_h, mix


def _max_pooling_from_conv_and_relu(X: np.ndarray, print_fn: PrintFn) -> None:
    """Exercise 2, continued: 2x2 max pooling as a pairwise maximum along each axis."""
    stage_w, stage_h, mix = _max_kernels(X.shape[-1])
    h = _fixed_conv(mix, (1, 1), tf.nn.relu(_fixed_conv(stage_w, (1, 2), X)))
    h = _fixed_conv(mix, (1, 1), tf.nn.relu(_fixed_conv(stage_h, (2, 1), h)))
    check_array(
        as_numpy(h), as_numpy(layers.MaxPool2D(2)(X)), "max pooling from conv + ReLU", 1e-5
    )
    print_fn("2x2 max pooling == (conv 1x2/2, ReLU, conv 1x1, conv 2x1/2, ReLU, conv 1x1): True")


def _min_pooling(print_fn: PrintFn) -> None:
    """Exercise 5: min pooling is max pooling of the negated input, negated."""
    mins = -as_numpy(ops.pool2d(-BOOK_X, 2, stride=1))
    show(print_fn, "min pooling of X = -maxpool(-X)", mins)
    check_array(mins, [[0, 1], [3, 4]], "min pooling")


def _softmax_pooling(print_fn: PrintFn) -> dict[float, np.ndarray]:
    """Exercise 6: softmax-weighted pooling of the book's X at three temperatures.

    It lies between the two poolings: the mean for a high temperature, the
    maximum for a low one (but it needs an exp per cell).
    """
    windows = np.stack(
        [BOOK_X[i : i + 2, j : j + 2].ravel() for i in range(2) for j in range(2)]
    ).astype(np.float64)
    soft = {}
    for t in (100.0, 1.0, 0.01):
        weights = np.exp((windows - windows.max(axis=1, keepdims=True)) / t)
        weights /= weights.sum(axis=1, keepdims=True)
        soft[t] = (weights * windows).sum(axis=1).reshape(2, 2)
        print_fn(f"softmax pooling, temperature {t:g}: {np.round(soft[t], 3).tolist()}")
    check(np.allclose(soft[100.0], [[2, 3], [5, 6]], atol=0.05), "hot softmax pool != mean")
    check(np.allclose(soft[0.01], [[4, 5], [7, 8]], atol=1e-6), "cold softmax pool != max")
    return soft


def _pooling_cost(c: int, print_fn: PrintFn) -> None:
    """Exercise 3: a pooling layer costs one operation per window cell and output."""
    n_out = c * 3 * 3
    print_fn(
        f"pooling cost of a {c}x6x6 input, 2x2 windows, stride 2: {n_out} outputs "
        f"x 4 cells = {n_out * 4} operations"
    )
