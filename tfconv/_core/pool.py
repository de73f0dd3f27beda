"""Pooling's entry point, `pool2d`, and its path for static shapes over any windows.

`pool2d` picks the tiled path (`pool_tiled`, windows that tile the input),
the strided-view path here (any stride and padding), or the
shape-polymorphic one (`pool_dynamic`).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from tfconv._core import pool_tiled, switches
from tfconv._core.pool_dynamic import pool_dynamic
from tfconv._core.pool_rules import (
    first_shares,
    keras_max,
    max_clean,
    pick_views,
    pool_fill,
    reduce_views,
    split_first,
)
from tfconv._core.shapes import Pads, output_length, resolve_padding
from tfconv._core.windows import pad, scatter_views, strided_views


def check_mode(mode: Any) -> None:
    """Raises unless `mode` is `"max"` or `"avg"`."""
    if not isinstance(mode, str) or mode not in ("max", "avg"):
        raise ValueError(f"`mode` must be 'max' or 'avg'. Received: mode={mode!r}")


def pool2d(
    x: tf.Tensor,
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    padding: str | Pads,
    mode: str,
    data_format: str = "channels_last",
) -> tf.Tensor:
    """Max or average pooling of a 4-D `x` (NHWC, or NCHW with `data_format`).

    Padding: for max pooling padded cells never win. For average pooling,
    explicit padding counts its zeros in the denominator (the book's
    behaviour) while "same" divides by the number of real cells in each
    window (Keras's behaviour).

    Non-finite values behave as in Keras's layers (TensorFlow's CPU kernels):
    a NaN or Inf reaches exactly the sums of the windows holding it; a max
    never picks a NaN, and a float32/float64 window of only -inf and NaN
    gives the dtype's lowest finite value.

    Static height, width and channels use cached, XLA-compiled functions per
    shape; any of them unknown (`None` while tracing) takes a
    shape-polymorphic path of dynamic strided slices, traced once for all
    sizes.
    """
    check_mode(mode)
    if mode == "max" and switches.exporting():
        mode = "plain_max"  # see `export_graph`
    if data_format == "channels_first":
        y = pool2d(tf.transpose(x, [0, 2, 3, 1]), pool_hw, strides, padding, mode)
        return tf.transpose(y, [0, 3, 1, 2])  # (N, C, Ho, Wo)
    if None in (x.shape[1], x.shape[2], x.shape[3]):
        return pool_dynamic(x, pool_hw, strides, padding, mode)
    return _pool_static(x, pool_hw, strides, padding, mode)


def _pool_static(
    x: tf.Tensor,
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    padding: str | Pads,
    mode: str,
) -> tf.Tensor:
    """`pool2d` of NHWC `x` with static height, width and channels."""
    (kh, kw), (sh, sw) = pool_hw, strides
    h, w = x.shape[1], x.shape[2]
    pads = resolve_padding(padding, (h, w), pool_hw, strides)
    ho = output_length(h, kh, sum(pads[0]), sh)
    wo = output_length(w, kw, sum(pads[1]), sw)
    xp = pad(x, pads, pool_fill(x.dtype, mode))

    # Tiled only with no padding before: the max pool gradient's first-cell rule (see
    # `split_first`) needs each window's first real cell, which is then its first cell.
    if (sh, sw) == (kh, kw) and pads[0][0] == pads[1][0] == 0:
        if xp.shape[1:3] != (ho * kh, wo * kw):
            xp = _crop(xp, (ho * kh, wo * kw))  # the ragged edge no window covers
        y = pool_tiled.pool_tiled(xp, pool_hw, mode)
    else:
        forward, backward = _pool_functions(
            pool_hw, strides, (ho, wo), (xp.shape[1], xp.shape[2]), mode, switches.XLA_CORE, pads
        )

        @tf.custom_gradient
        def _pool(xp):
            return forward(xp), lambda dy: backward(dy, xp)

        y = _pool(xp)

    if mode != "avg":
        return y
    if padding == "same" and pads != ((0, 0), (0, 0)):
        counts = _same_counts((h, w), pool_hw, strides, pads, (ho, wo))
        return y / tf.constant(counts[None, :, :, None], dtype=y.dtype)
    return y / tf.cast(kh * kw, y.dtype)


def _crop(x: tf.Tensor, hw: tuple[int, int]) -> tf.Tensor:
    """`x[:, :h, :w]` whose gradient is one pad of `dy` with zeros.

    TensorFlow's own gradient of the slice (`StridedSliceGrad`) is a slow
    kernel: MNIST convnet's 2x2 max pool on 11x11x64 spent several times the
    whole pool's time in it (docs/bench/zoo_analysis.md).
    """
    h, w = hw
    extra = [[0, 0], [0, x.shape[1] - h], [0, x.shape[2] - w], [0, 0]]

    @tf.custom_gradient
    def crop(x):
        return x[:, :h, :w], lambda dy: tf.pad(dy, extra)

    return crop(x)


@switches.shape_cache
def _pool_functions(
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    out_hw: tuple[int, int],
    padded_hw: tuple[int, int],
    mode: str,
    xla: bool,
    pads: Pads | None = None,
) -> tuple[Any, Any]:
    """Forward and backward of pooling over any windows (cached per shape).

    The forward pass is separable: a reduction over the `kw` strided column
    views, then over the `kh` row views. The backward pass routes each
    output's gradient to the views that produced it (all of them for a sum,
    the first maximum for max) and scatters the views back, the transpose of
    the gather; autodiff through the strided slices costs far more
    (docs/bench/core_choices.md).
    """
    (kh, kw), (sh, sw), (ho, wo), (hp, wp) = pool_hw, strides, out_hw, padded_hw
    pads = pads or ((0, 0), (0, 0))

    def stages(xp, forward=False):
        reduce = functools.partial(reduce_views, mode=mode)
        if mode == "max" and forward:
            reduce = keras_max
        elif mode == "max":
            xp = max_clean(xp)
        cols = strided_views(xp, kw, sw, 1, wo, axis=2)  # kw x (N, Hp, Wo, C)
        mid = reduce(cols)
        rows = strided_views(mid, kh, sh, 1, ho, axis=1)  # kh x (N, Ho, Wo, C)
        return cols, mid, rows, reduce(rows)

    def forward(xp):
        return stages(xp, forward=True)[3]

    # Window t's first real (unpadded) cell is view i0[t] of its rows / j0 of its columns.
    (top, _), (left, _) = pads
    i0, j0 = np.maximum(top - np.arange(ho) * sh, 0), np.maximum(left - np.arange(wo) * sw, 0)

    def backward(dy, xp):
        cols, mid, rows, y = stages(xp)
        if mode == "avg":
            d_mid = scatter_views([dy] * kh, hp, sh, 1, axis=1)  # (N, Hp, Wo, C)
            return scatter_views([d_mid] * kw, wp, sw, 1, axis=2)  # (N, Hp, Wp, C)
        if top == left == 0:
            first = xp[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
        else:
            first = tf.gather(xp, i0 + np.arange(ho) * sh, axis=1)
            first = tf.gather(first, j0 + np.arange(wo) * sw, axis=2)  # (N, Ho, Wo, C)
        dy, d_first = split_first(dy, first, y) if mode == "max" else (dy, None)
        d_mid = scatter_views(first_shares(rows, y, dy), hp, sh, 1, axis=1)
        d_cols = first_shares(cols, mid, d_mid)
        if d_first is not None:
            rows_first = pick_views(d_first, i0, axis=1)
            d_mid_first = scatter_views(rows_first, hp, sh, 1, axis=1)  # (N, Hp, Wo, C)
            for j, share in enumerate(pick_views(d_mid_first, j0, axis=2)):
                d_cols[j] = d_cols[j] + share
        return scatter_views(d_cols, wp, sw, 1, axis=2)  # (N, Hp, Wp, C)

    return switches.xla_if(xla, forward, backward)


def _same_counts(
    input_hw: tuple[int, int],
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    pads: Pads,
    out_hw: tuple[int, int],
) -> np.ndarray:
    """How many real (unpadded) cells each output window covers."""
    per_axis = []
    for a in range(2):
        start = np.arange(out_hw[a]) * strides[a] - pads[a][0]
        stop = np.minimum(start + pool_hw[a], input_hw[a])
        per_axis.append(stop - np.maximum(start, 0))
    return np.outer(per_axis[0], per_axis[1]).astype(np.float32)
