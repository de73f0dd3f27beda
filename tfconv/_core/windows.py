"""Window plumbing shared by the conv and pool paths.

Padding, strided views and their transposes (scatters, `col2im`), the
`(window, tap)` index tables, and the dtype of gather positions.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfconv._core import switches
from tfconv._core.shapes import Pads


def pad(x: tf.Tensor, pads: Pads, value: float = 0.0) -> tf.Tensor:
    """NHWC `x` padded by `pads` with `value` (a no-op without padding)."""
    if pads == ((0, 0), (0, 0)):
        return x
    (top, bottom), (left, right) = pads
    _, h, w, c = x.shape
    # Padded as rows of W*C values: TFLite's (XNNPACK's) PAD copies the
    # innermost axis in runs, and with one channel a 4-D pad copied single
    # values, a large share of LeNet conv1's TFLite inference
    # (docs/bench/core_choices.md).
    rows = tf.reshape(x, [-1, h, w * c])  # (N, H, W*C)
    rows = tf.pad(rows, [[0, 0], [top, bottom], [left * c, right * c]], constant_values=value)
    return tf.reshape(rows, [-1, h + top + bottom, w + left + right, c])  # (N, Hp, Wp, C)


def strided_views(x: tf.Tensor, k: int, s: int, d: int, n_out: int, axis: int) -> list[tf.Tensor]:
    """The `k` strided views of `x` along spatial `axis` (1 = rows, 2 = columns)."""
    span = (n_out - 1) * s + 1
    views = []
    for i in range(k):
        begin = i * d
        if axis == 1:
            views.append(x[:, begin : begin + span : s])
        else:
            views.append(x[:, :, begin : begin + span : s])
    return views


def dilate(x: tf.Tensor, strides: tuple[int, int]) -> tf.Tensor:
    """Inserts `s - 1` zeros between neighbouring rows/columns of NHWC `x`."""
    sh, sw = strides
    if (sh, sw) == (1, 1):
        return x
    n = tf.shape(x)[0]
    _, h, w, c = x.shape
    x = tf.reshape(x, [n, h, 1, w, 1, c])
    x = tf.pad(x, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
    x = tf.reshape(x, [n, h * sh, w * sw, c])  # (N, H*sh, W*sw, C)
    return x[:, : (h - 1) * sh + 1, : (w - 1) * sw + 1]


def scatter_views(views: list[tf.Tensor], length: int, s: int, d: int, axis: int) -> tf.Tensor:
    """Transpose of `strided_views`: adds each view back at its strided offset."""
    out = []
    for i, v in enumerate(views):
        v = dilate(v, (s, 1) if axis == 1 else (1, s))
        before = i * d
        after = length - before - v.shape[axis]
        pads = [[0, 0]] * 4
        pads[axis] = [before, after]
        out.append(tf.pad(v, pads))
    return out[0] if len(out) == 1 else tf.add_n(out)


def tap_positions(count: int, stride: int, taps: int, step: int) -> np.ndarray:
    """`(count, taps)` input positions: window `t`, tap `j` reads `t * stride + j * step`."""
    return np.arange(count)[:, None] * stride + np.arange(taps)[None, :] * step


def _column_slots(n_out: int, s: int, k: int, d: int, length: int) -> tuple[np.ndarray, int]:
    """Where each of `length` columns is read by `n_out` windows of `k` taps.

    Window `t`, tap `j` reads column `t * s + j * d`, stored at cell `t * k + j`.
    Returns `(index, slots)`: `index` is `(length, slots)` flattened, the cells
    that read each column, padded with `n_out * k`, the index of a zero cell.
    Columns past `length` are not read back.
    """
    cells: list[list[int]] = [[] for _ in range(length)]
    for cell, column in enumerate(tap_positions(n_out, s, k, d).reshape(-1)):
        if column < length:
            cells[column].append(cell)
    slots = max(1, max(len(c) for c in cells))
    index = [c + [n_out * k] * (slots - len(c)) for c in cells]
    return np.asarray(index, np.int32).reshape(-1), slots


def col2im(
    patches: tf.Tensor,
    padded_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    strides: tuple[int, int],
    dilation: tuple[int, int],
) -> tf.Tensor:
    """Transpose of im2col: sums every patch back onto the image.

    (N, Ho, Wo, kh*kw*C) -> (N, Hp, Wp, C). Used for the input gradient; it
    costs a few pads, adds and one gather instead of another im2col of the
    (usually wider) output gradient.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    hp, wp = padded_hw
    wo, c = patches.shape[2], patches.shape[3] // (kh * kw)
    rows = tf.split(patches, kh, axis=-1) if kh > 1 else [patches]  # kh x (N, Ho, Wo, kw*C)
    x = scatter_views(rows, hp, sh, dh, axis=1)  # (N, Hp, Wo, kw*C)
    # Columns gather what reads them and sum: under XLA faster than
    # scattering kw strided views with pads (docs/bench/core_choices.md).
    index, slots = _column_slots(wo, sw, kw, dw, wp)
    x = tf.reshape(x, [-1, hp, wo * kw, c])  # (N, Hp, Wo*kw, C)
    x = tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0]])  # the zero cell
    x = tf.gather(x, tf.constant(index), axis=2)  # (N, Hp, Wp*slots, C)
    return tf.reduce_sum(tf.reshape(x, [-1, hp, wp, slots, c]), axis=3)  # (N, Hp, Wp, C)


def positions(index: np.ndarray) -> tf.Tensor:
    """Gather positions as a constant: int32, or int16 under `export_graph()`.

    int32 in the graphs that train: TensorFlow 2.21 has GPU `GatherV2` kernels
    for int32 and int64 positions only, so an int16 gather outside XLA would
    run on the CPU every step.
    """
    small = switches.exporting() and (index.size == 0 or index.max() < 2**15)
    return tf.constant(index.astype(np.int16 if small else np.int32))
