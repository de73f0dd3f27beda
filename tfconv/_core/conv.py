"""Convolution's entry points: `conv2d` resolves padding and picks the path for a shape.

Static shapes go to `conv2d_valid`, which picks depthwise, Winograd or
im2col/banded; unknown sizes go to `conv2d_dynamic`.
"""

from __future__ import annotations

import tensorflow as tf

from tfconv._core.conv_dynamic import conv2d_dynamic
from tfconv._core.depthwise import depthwise_conv
from tfconv._core.im2col import im2col_conv
from tfconv._core.shapes import Pads, resolve_padding
from tfconv._core.winograd import winograd_conv, winograd_eligible, winograd_out_hw


def conv2d_valid(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    block: int | None = None,
    bias: tf.Tensor | None = None,
    pads: Pads = ((0, 0), (0, 0)),
    groups: int = 1,
) -> tf.Tensor:
    """Cross-correlation of NHWC `x` with a `(kh, kw, C/groups, F)` kernel, zero padded by `pads`.

    The output width is cut into blocks of `block` columns. Each block is one
    row of a matrix product: its input tile (kh rows, `(block-1)*sw + kw`
    columns, all channels) times a banded expansion of the kernel that maps
    the tile to `block` outputs of every filter. `block=1` is plain im2col.
    The tiles are gathered with one `tf.gather` of channel vectors; `bias`, if
    given, is added to the matmul's output. `groups` splits the channels as
    Keras's `groups` does: depthwise convolutions (one input channel per
    group) sum offset views (`depthwise`), other grouped ones gather every
    group's windows and run one batched matmul. 3x3 stride-1 convs with
    enough channels run by Winograd F(2x2, 3x3) (`winograd_eligible`).

    The backward pass is explicit so that autodiff never walks through the
    gather: the kernel gradient is one matmul against the saved tiles (folded
    back through the band), the input gradient one matmul into tile space
    followed by `col2im`, the transpose of the tile gather, and the bias
    gradient a column sum. They are separate functions so that a gradient
    nobody asks for (the first layer's input gradient) is pruned. With
    `switches.XLA_CORE`, the gather of few-channel inputs and `col2im` are
    XLA-compiled, where they measured faster than TensorFlow's kernels.

    Static shapes only: the index tables are built per shape and cached
    (`im2col._conv_functions`), so each distinct input size is traced once;
    see `conv2d` for unknown sizes.
    """
    if groups > 1 and kernel.shape[2] == 1:
        return depthwise_conv(x, kernel, tuple(strides), tuple(dilation), bias, pads)
    if (groups, block) == (1, None) and winograd_eligible(
        kernel.shape, strides, dilation, winograd_out_hw(x, pads)
    ):
        return winograd_conv(x, kernel, bias, pads)
    return im2col_conv(x, kernel, strides, dilation, block, bias, pads, groups)


def conv2d(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int] = (1, 1),
    padding: str | Pads = "valid",
    dilation: tuple[int, int] = (1, 1),
    bias: tf.Tensor | None = None,
    groups: int = 1,
) -> tf.Tensor:
    """NHWC cross-correlation with Keras/TensorFlow padding semantics, plus `bias`.

    `kernel` is `(kh, kw, C/groups, F)`. Inputs of static height and width
    take `conv2d_valid` (index tables built per shape, cached); when either
    is unknown at trace time (a model on `(None, None, C)` images traced by
    Keras with `reduce_retracing`, or a `tf.function` with a relaxed
    signature), `conv2d_dynamic`. Tracing stays bounded either way: at most
    one trace per concrete shape, and one for all the unknown ones.
    """
    if x.shape[1] is None or x.shape[2] is None:
        return conv2d_dynamic(x, kernel, strides, padding, dilation, bias, groups)
    kh, kw = kernel.shape[0], kernel.shape[1]
    eff = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    pads = resolve_padding(padding, (x.shape[1], x.shape[2]), eff, strides)
    return conv2d_valid(x, kernel, strides, dilation, bias=bias, pads=pads, groups=groups)
