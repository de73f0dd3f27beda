"""Shape-polymorphic pooling, for inputs whose height, width or channels are unknown when traced.

Window offsets are static, sizes are tensors, and the views are strided
slices with dynamic ends, so one trace serves every image size.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfconv._core.pool_rules import (
    first_shares,
    max_clean,
    max_floor,
    pool_fill,
    reduce_views,
    split_first,
)
from tfconv._core.shapes import Pads, dynamic_pads, output_length, resolve_padding


class _Windows:
    """A pool's windows over an input whose sizes are tensors: pads, output size, views."""

    def __init__(
        self,
        x: tf.Tensor,
        pool_hw: tuple[int, int],
        strides: tuple[int, int],
        padding: str | Pads,
    ) -> None:
        self.pool_hw, self.strides = pool_hw, strides
        (kh, kw), (sh, sw) = pool_hw, strides
        shape = tf.shape(x)
        self.h, self.w = shape[1], shape[2]
        self.same = padding == "same"
        if not self.same:
            padding = resolve_padding(padding, (0, 0), pool_hw, strides)
        self.top, self.bottom = dynamic_pads(self.h, kh, sh, padding, 0)
        self.left, self.right = dynamic_pads(self.w, kw, sw, padding, 1)
        self.ho = output_length(self.h, kh, self.top + self.bottom, sh)
        self.wo = output_length(self.w, kw, self.left + self.right, sw)
        # The most cells any window has before the image: TensorFlow's SAME puts
        # at most (k - 1) // 2 there.
        self.most_top, self.most_left = (
            ((kh - 1) // 2, (kw - 1) // 2) if self.same else (self.top, self.left)
        )

    def padded(self, x: tf.Tensor, mode: str) -> tf.Tensor:
        """`x` padded with `pool_fill`, once a run-time check finds the output non-empty."""
        check = tf.debugging.assert_positive(
            tf.minimum(self.ho, self.wo),
            message=f"The pooling window {tuple(self.pool_hw)} is larger than the (padded) input",
        )
        with tf.control_dependencies([check]):
            return tf.pad(
                x,
                [[0, 0], [self.top, self.bottom], [self.left, self.right], [0, 0]],
                constant_values=pool_fill(x.dtype, mode),
            )

    def col_views(self, v: tf.Tensor, count: int | None = None) -> list[tf.Tensor]:
        """`count` (default the window width) column views, each (N, Hp, Wo, C)."""
        sw, wo = self.strides[1], self.wo
        count = self.pool_hw[1] if count is None else count
        return [v[:, :, j : j + (wo - 1) * sw + 1 : sw] for j in range(count)]

    def row_views(self, v: tf.Tensor, count: int | None = None) -> list[tf.Tensor]:
        """`count` (default the window height) row views, each (N, Ho, Wo, C)."""
        sh, ho = self.strides[0], self.ho
        count = self.pool_hw[0] if count is None else count
        return [v[:, i : i + (ho - 1) * sh + 1 : sh] for i in range(count)]

    def avg_divisor(self, dtype: tf.DType) -> Any:
        """Cells per window: the real ones under SAME (Keras's rule), else the window's."""
        (kh, kw), (sh, sw) = self.pool_hw, self.strides
        if not self.same:
            return tf.cast(kh * kw, dtype)

        def counts(n, k, s, before, n_out):
            start = tf.range(n_out) * s - before
            return tf.minimum(start + k, n) - tf.maximum(start, 0)

        per_h = counts(self.h, kh, sh, self.top, self.ho)
        per_w = counts(self.w, kw, sw, self.left, self.wo)
        return tf.cast(per_h[:, None] * per_w[None, :], dtype)[None, :, :, None]


def _scatter(views: Any, target: tf.Tensor, grads: list[tf.Tensor]) -> tf.Tensor:
    """Sum of `grads` placed where `views(target)` read them: the views' transpose."""
    with tf.GradientTape() as tape:
        tape.watch(target)
        read = views(target, len(grads))
    return tape.gradient(read, target, output_gradients=grads)


def _stages(win: _Windows, xp: tf.Tensor, mode: str) -> tuple[Any, tf.Tensor, Any, tf.Tensor]:
    """`(cols, mid, rows, y)`: column views, their reduction, its row views, the pool."""
    cols = win.col_views(max_clean(xp) if mode == "max" else xp)
    mid = reduce_views(cols, mode)
    rows = win.row_views(mid)
    return cols, mid, rows, reduce_views(rows, mode)


def _max_backward(
    win: _Windows, xp: tf.Tensor, stages: tuple[Any, ...], dy: tf.Tensor, mode: str
) -> tf.Tensor:
    """A max pool's input gradient: each window's to its first maximal (or first real) cell."""
    cols, mid, rows, y = stages
    (sh, sw), (ho, wo) = win.strides, (win.ho, win.wo)
    out_rows, out_cols = tf.range(ho), tf.range(wo)
    i0 = tf.maximum(win.top - out_rows * sh, 0)
    j0 = tf.maximum(win.left - out_cols * sw, 0)
    first = tf.gather(tf.gather(xp, i0 + out_rows * sh, axis=1), j0 + out_cols * sw, axis=2)
    dy, d_first = split_first(dy, first, y) if mode == "max" else (dy, None)
    d_mid = _scatter(win.row_views, mid, first_shares(rows, y, dy))
    d_cols = first_shares(cols, mid, d_mid)
    if d_first is not None:
        zero = tf.zeros_like(dy)
        picks = [tf.where(tf.equal(i0, i)[None, :, None, None], d_first, zero)
                 for i in range(win.most_top + 1)]  # fmt: skip
        d_mid_first = _scatter(win.row_views, mid, picks)
        for j in range(win.most_left + 1):
            pick = tf.equal(j0, j)[None, None, :, None]
            d_cols[j] = d_cols[j] + tf.where(pick, d_mid_first, tf.zeros_like(d_mid))
    return _scatter(win.col_views, xp, d_cols)


def _pool(win: _Windows, xp: tf.Tensor, mode: str) -> tf.Tensor:
    """The pooled (for `"avg"`: summed) windows of padded `xp`, with an explicit gradient."""
    kh, kw = win.pool_hw

    @tf.custom_gradient
    def pool(xp):
        stages = _stages(win, xp, mode)
        mid, y = stages[1], stages[3]

        def backward(dy):
            if mode == "avg":
                d_mid = _scatter(win.row_views, mid, [dy] * kh)
                return _scatter(win.col_views, xp, [d_mid] * kw)
            return _max_backward(win, xp, stages, dy, mode)

        return (max_floor(y) if mode == "max" else y), backward

    return pool(xp)


def pool_dynamic(
    x: tf.Tensor,
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    padding: str | Pads,
    mode: str,
) -> tf.Tensor:
    """`pool2d` for NHWC `x` whose height, width or channels are unknown while tracing.

    Shape-polymorphic: window offsets are static, sizes are tensors, and the
    views are strided slices with dynamic ends, so one trace serves every
    image size (Keras traces `fit` with `reduce_retracing`, so sizes become
    `None` after the first retrace). Same reductions and gradient routing as
    the static paths; the views are scattered back by the strided slices'
    own gradients.
    """
    win = _Windows(x, pool_hw, strides, padding)
    y = _pool(win, win.padded(x, mode), mode)
    return y if mode != "avg" else y / win.avg_divisor(y.dtype)
