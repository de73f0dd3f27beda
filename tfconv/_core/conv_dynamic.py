"""Shape-polymorphic convolution, for inputs whose height or width is unknown when traced.

The padding and output size are computed from `tf.shape` at run time, each
kernel offset is one strided slice with dynamic bounds, and autodiff gives
the gradients: one trace serves every image size.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfconv._core.depthwise import depthwise_sum
from tfconv._core.shapes import Pads, dynamic_pads, output_length


def _pad_dynamic(
    x: tf.Tensor,
    window_hw: tuple[int, int],
    strides: tuple[int, int],
    padding: str | Pads,
) -> tuple[tf.Tensor, Any, Any]:
    """`(xp, ho, wo)`: `x` padded for a window of (dilated) extent `window_hw`, output size."""
    shape = tf.shape(x)
    h = x.shape[1] if x.shape[1] is not None else shape[1]
    w = x.shape[2] if x.shape[2] is not None else shape[2]
    (ekh, ekw), (sh, sw) = window_hw, strides
    top, bottom = dynamic_pads(h, ekh, sh, padding, 0)
    left, right = dynamic_pads(w, ekw, sw, padding, 1)
    xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    return xp, output_length(h, ekh, top + bottom, sh), output_length(w, ekw, left + right, sw)


def _grouped_matmul(flat: tf.Tensor, kernel: tf.Tensor, groups: int) -> tf.Tensor:
    """(N*Ho*Wo, F): im2col rows `(N, Ho, Wo, kh*kw*C)` times the kernel, per group."""
    kh, kw, cg, co = kernel.shape
    if groups == 1:
        return tf.matmul(tf.reshape(flat, [-1, kh * kw * cg]), tf.reshape(kernel, [-1, co]))
    fg = co // groups
    flat = tf.reshape(flat, [-1, kh * kw, groups, cg])  # (N*Ho*Wo, kh*kw, G, C/G)
    flat = tf.reshape(tf.transpose(flat, [2, 0, 1, 3]), [groups, -1, kh * kw * cg])
    k = tf.transpose(tf.reshape(kernel, [kh * kw * cg, groups, fg]), [1, 0, 2])
    y = tf.matmul(flat, k)  # (G, N*Ho*Wo, F/G)
    return tf.reshape(tf.transpose(y, [1, 0, 2]), [-1, co])  # (N*Ho*Wo, F)


def conv2d_dynamic(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int] = (1, 1),
    padding: str | Pads = "valid",
    dilation: tuple[int, int] = (1, 1),
    bias: tf.Tensor | None = None,
    groups: int = 1,
) -> tf.Tensor:
    """`conv2d` for inputs whose height or width is unknown when traced.

    Shape-polymorphic: the padding and output size are computed from
    `tf.shape` at run time, each kernel offset is one strided slice with
    dynamic bounds, and the slices are concatenated into im2col rows for one
    matmul (a batched one per group; depthwise kernels multiply and add the
    slices instead). One trace serves every image size, and autodiff gives
    the gradients. Exported to TFLite it is SHAPE, arithmetic, PAD,
    STRIDED_SLICE, CONCATENATION and FULLY_CONNECTED/BATCH_MATMUL ops.
    """
    kh, kw, cg, co = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    window_hw = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    xp, ho, wo = _pad_dynamic(x, window_hw, strides, padding)
    if groups > 1 and cg == 1:
        y = depthwise_sum(xp, kernel, (sh, sw), (dh, dw), (ho, wo))
        return y if bias is None else tf.nn.bias_add(y, bias)
    views = [
        xp[:, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    flat = tf.concat(views, axis=-1) if len(views) > 1 else views[0]  # (N, Ho, Wo, kh*kw*C)
    out_shape = tf.concat([tf.shape(flat)[:3], [co]], 0)
    y = _grouped_matmul(flat, kernel, groups)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return tf.reshape(y, out_shape)  # (N, Ho, Wo, F)
