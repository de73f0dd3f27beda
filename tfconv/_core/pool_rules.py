"""Pooling's reductions and Keras's max-pool rules for NaN, -inf and ties.

Shared by the static, tiled and shape-polymorphic pooling paths: the view
reductions (as chains of binary ops), what padding holds, and how a max
pool's gradient picks each window's cell the way TensorFlow's CPU kernel does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def reduce_views(views: list[tf.Tensor], mode: str) -> tf.Tensor:
    """Sum (`"avg"`) or maximum of same-shape views, as a chain of binary ops.

    A chain, not `add_n` or a reduction: in TFLite it is ADD/MAXIMUM, which
    XNNPACK runs well in float and int8.
    """
    op = tf.add if mode == "avg" else tf.maximum
    out = views[0]
    for v in views[1:]:
        out = op(out, v)
    return out


def max_clean(x: tf.Tensor) -> tf.Tensor:
    """NaN as -inf: Keras's (TensorFlow's CPU) max pool never lets a NaN win.

    `x == x`, not `is_nan`: EQUAL and SELECT are TFLite builtins.
    """
    if not x.dtype.is_floating:
        return x
    return tf.where(tf.equal(x, x), x, tf.constant(-np.inf, x.dtype))


def keras_max(views: list[tf.Tensor]) -> tf.Tensor:
    """`max_floor` of the NaN-free maximum of `views`, in one pass of compare and select.

    Each step keeps the running value unless a view is strictly greater, as
    TensorFlow's CPU kernel scans a window; starting from the floor, a NaN
    never enters.
    """
    dtype = views[0].dtype
    if not dtype.is_floating:
        return reduce_views(views, "max")
    floor = dtype.min if dtype in (tf.float32, tf.float64) else -np.inf
    out = tf.constant(floor, dtype)
    for v in views:
        out = tf.where(v > out, v, out)
    return out


def max_floor(y: tf.Tensor) -> tf.Tensor:
    """TensorFlow's CPU max pool starts each float32/float64 window at the dtype's
    lowest finite value, so a window of only -inf and NaN gives that value; its
    16-bit kernels start at -inf."""
    if y.dtype in (tf.float32, tf.float64):
        return tf.maximum(y, tf.constant(y.dtype.min, y.dtype))
    return y


def pool_fill(dtype: tf.DType, mode: str) -> Any:
    """What padding holds: never a window's maximum, nothing in a sum."""
    if mode == "avg":
        return 0
    # -inf so that a real -inf cell still counts as the first real cell (`split_first`).
    return -np.inf if dtype.is_floating and mode == "max" else dtype.min


def split_first(
    dy: tf.Tensor, first: tf.Tensor, best: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor | None]:
    """`dy` split into windows routed by value and windows routed to their first cell.

    Keras's (TensorFlow's CPU) max pool gradient scans each window's real
    cells in row-major order, starting from the first and moving on only to a
    strictly greater value: a window whose first real cell is NaN, or whose
    maximum is -inf (all -inf and NaN), sends its gradient to that first cell.
    `first` holds each window's first real cell, `best` its (NaN-free) max.
    """
    if not dy.dtype.is_floating:
        return dy, None
    to_first = tf.logical_or(
        tf.not_equal(first, first), tf.equal(best, tf.constant(-np.inf, best.dtype))
    )
    zero = tf.zeros_like(dy)
    return tf.where(to_first, zero, dy), tf.where(to_first, dy, zero)


def pick_views(grad: tf.Tensor, index: np.ndarray, axis: int) -> list[tf.Tensor]:
    """`grad` split over views `0..max(index)`: view `i` gets the windows whose `index` is `i`."""
    if index.max(initial=0) == 0:
        return [grad]
    shape = [1, 1, 1, 1]
    shape[axis] = index.size
    zero = tf.zeros_like(grad)
    return [
        tf.where(tf.constant((index == i).reshape(shape)), grad, zero)
        for i in range(int(index.max()) + 1)
    ]


def first_shares(
    views: list[tf.Tensor],
    best: tf.Tensor,
    grad: tf.Tensor,
    to_first: tf.Tensor | None = None,
) -> list[tf.Tensor]:
    """`grad` routed to the first of `views` equal to `best`, zeros to the others.

    Where `to_first` is true the first view takes it whatever its value.
    View by view rather than masks of a stack of them: XLA then fuses the
    comparisons into whatever consumes the shares instead of writing a stack
    out, which made a max pool's backward pass faster
    (docs/bench/core_choices.md).
    """
    zero, seen, shares = tf.zeros_like(grad), None, []
    for v in views:
        hit = tf.equal(v, best)
        if seen is None and to_first is not None:
            hit = tf.logical_or(hit, to_first)
        first = hit if seen is None else tf.logical_and(hit, tf.logical_not(seen))
        seen = hit if seen is None else tf.logical_or(seen, hit)
        shares.append(tf.where(first, grad, zero))
    return shares
