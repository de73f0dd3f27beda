"""Pooling of windows that tile the input exactly (stride = window), by reshaped views.

Two reductions over reshaped views, columns then rows, each over a
contiguous middle axis, with explicit gradients; cheaper than strided views
where windows do not overlap.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from tfconv._core import switches
from tfconv._core.pool_rules import first_shares, keras_max, max_clean, reduce_views


@switches.shape_cache
def _tiled_pool_functions(
    pool_hw: tuple[int, int], out_w: int, channels: int, mode: str, xla: bool
) -> tuple[Any, Any]:
    """Forward and backward of a tiled max pool or window sum, cached per shape.

    Under XLA the two reductions and the gradient run faster than
    TensorFlow's kernels, which reduce a short middle axis slowly
    (docs/bench/core_choices.md). The gradients are
    explicit: differentiating an XLA function inside a model compiled with
    `jit_compile=True` made XLA recompile the model at every step.
    """
    (kh, kw), wo, c = pool_hw, out_w, channels

    def forward(x):
        return _tiled_stages(x, pool_hw, wo, c, mode, forward=True)[3]  # (N*Ho, Wo*C)

    def backward(dy, x):
        dy = tf.reshape(dy, [-1, 1, wo * c])  # (N*Ho, 1, Wo*C)
        if mode == "avg":
            dz = tf.reshape(tf.broadcast_to(dy, [tf.shape(dy)[0], kh, wo * c]), [-1, 1, c])
            dx = tf.broadcast_to(dz, [tf.shape(dz)[0], kw, c])  # (N*H*Wo, kw, C)
            return tf.reshape(dx, tf.shape(x))
        # Recomputed rather than saved: under XLA it fuses into the masks.
        col_parts, z, row_parts, y = _tiled_stages(x, pool_hw, wo, c, mode)
        to_first = row_first = None
        if mode == "max" and x.dtype.is_floating:
            # Windows do not overlap, so one mask serves both stages (see `split_first`).
            first = tf.reshape(x[:, ::kh, ::kw], [-1, 1, wo * c])  # (N*Ho, 1, Wo*C)
            to_first = tf.logical_or(
                tf.not_equal(first, first), tf.equal(y[:, None], tf.constant(-np.inf, y.dtype))
            )
            row_first = tf.reshape(
                tf.broadcast_to(to_first, [tf.shape(dy)[0], kh, wo * c]), [-1, 1, c]
            )  # (N*H*Wo, 1, C)
        dz = tf.concat(first_shares(row_parts, y[:, None], dy, to_first), axis=1)
        dz = tf.reshape(dz, [-1, 1, c])  # (N*Ho*kh*Wo, 1, C)
        dx = tf.concat(first_shares(col_parts, z[:, None], dz, row_first), axis=1)
        return tf.reshape(dx, tf.shape(x))  # (N*H*Wo, kw, C) back to x's shape

    return switches.xla_if(xla, forward, backward)


def _tiled_stages(
    x: tf.Tensor,
    pool_hw: tuple[int, int],
    out_w: int,
    channels: int,
    mode: str,
    forward: bool = False,
) -> tuple[list[tf.Tensor], tf.Tensor, list[tf.Tensor], tf.Tensor]:
    """The two stages of a tiled pool, columns reduced first: `(col_parts, z, row_parts, y)`.

    Each stage splits a reshaped view's short window axis into parts
    (`(M, 1, L)` each) and reduces them with `_reduce_views`: under XLA that
    fuses like a reduction, and in TFLite it is SPLIT and ADD/MAXIMUM, where a
    REDUCE_SUM over such a short axis is slow in XNNPACK
    (docs/bench/core_choices.md).
    """
    (kh, kw), c = pool_hw, channels

    def split(v):
        return tf.split(v, v.shape[1], axis=1) if v.shape[1] > 1 else [v]

    reduce = functools.partial(reduce_views, mode=mode)
    if mode == "max" and forward:
        reduce = keras_max  # the forward value: floored, NaN never wins
    elif mode == "max":
        x = max_clean(x)  # the backward pass compares to the NaN-free maximum
    col_parts = split(tf.reshape(x, [-1, kw, c]))  # kw x (N*H*Wo, 1, C)
    z = tf.reshape(reduce(col_parts), [-1, c])  # (N*H*Wo, C)
    row_parts = split(tf.reshape(z, [-1, kh, out_w * c]))  # kh x (N*Ho, 1, Wo*C)
    y = tf.reshape(reduce(row_parts), [-1, out_w * c])  # (N*Ho, Wo*C)
    return col_parts, z, row_parts, y


def pool_tiled(x: tf.Tensor, pool_hw: tuple[int, int], mode: str) -> tf.Tensor:
    """Pooling of windows that tile `x` exactly (stride = window, sizes divide).

    Two reductions over reshaped views, columns then rows, each over a
    contiguous middle axis (`_tiled_stages`; strided slices and their
    gradients would cost several times more), with explicit gradients; max
    pooling's, like Keras's, sends a tied window's gradient to its first cell
    in row-major order.
    """
    (kh, kw), c = pool_hw, x.shape[3]
    h, w = x.shape[1], x.shape[2]
    ho, wo = h // kh, w // kw
    forward, backward = _tiled_pool_functions(tuple(pool_hw), wo, c, mode, switches.XLA_CORE)

    @tf.custom_gradient
    def _pool(x):
        return tf.reshape(forward(x), [-1, ho, wo, c]), lambda dy: backward(dy, x)

    return _pool(x)
