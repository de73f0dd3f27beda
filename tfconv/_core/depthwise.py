"""Depthwise convolution (one input channel per group) as a sum of offset views.

Each kernel offset is one strided view of the padded input, multiplied by
that offset's per-channel weights and added up: `kh*kw` elementwise ops,
which XLA fuses into one pass, instead of a gather of windows and a matmul
whose rows would be one channel long.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import tensorflow as tf

from tfconv._core import switches
from tfconv._core.shapes import Pads, output_length
from tfconv._core.windows import dilate, pad


def depthwise_sum(
    xp: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[Any, Any],
) -> tf.Tensor:
    """Depthwise correlation of padded NHWC `xp` by offset views (see the module docstring).

    `out_hw` may hold tensors (the dynamic path). Output channel `c*m + k` is
    channel `c`'s `k`-th filter (`m = F/C`), Keras's order.
    """
    kh, kw, _, co = kernel.shape
    c = xp.shape[3]
    m = co // c
    (sh, sw), (dh, dw), (ho, wo) = strides, dilation, out_hw
    weights = tf.reshape(kernel, [kh, kw, c, m])  # channel c's m filters side by side
    y = None
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            view = xp[:, top : top + (ho - 1) * sh + 1 : sh, left : left + (wo - 1) * sw + 1 : sw]
            term = tf.expand_dims(view, -1) * weights[i, j]  # (N, Ho, Wo, C, m)
            y = term if y is None else y + term
    if m == 1:
        return y[..., 0]
    shape = tf.shape(y)
    return tf.reshape(y, tf.concat([shape[:3], [co]], 0))  # (N, Ho, Wo, F)


class _Depthwise:
    """Forward and backward of one depthwise conv shape (built by `_depthwise_functions`).

    The backward pass is explicit: the kernel gradient sums each view times
    the output gradient, the input gradient pads each offset's share back
    into place and adds them.
    """

    def __init__(
        self,
        kernel_shape: tuple[int, int, int, int],
        input_hw: tuple[int, int],
        pads: Pads,
        strides: tuple[int, int],
        dilation: tuple[int, int],
        xla: bool,
    ) -> None:
        self.kh, self.kw = kernel_shape[:2]
        self.strides, self.dilation, self.pads, self.input_hw = strides, dilation, pads, input_hw
        (sh, sw), (dh, dw) = strides, dilation
        self.padded_hw = (input_hw[0] + sum(pads[0]), input_hw[1] + sum(pads[1]))
        self.out_hw = (
            output_length(self.padded_hw[0], (self.kh - 1) * dh + 1, 0, sh),
            output_length(self.padded_hw[1], (self.kw - 1) * dw + 1, 0, sw),
        )
        self.span = ((self.out_hw[0] - 1) * sh + 1, (self.out_hw[1] - 1) * sw + 1)
        self.forward, self._input_grad = switches.xla_if(xla, self._forward, self._input_grad)

    def _forward(self, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return depthwise_sum(pad(x, self.pads), kernel, self.strides, self.dilation, self.out_hw)

    def _views(self, x: tf.Tensor) -> Iterator[tf.Tensor]:
        (sh, sw), (dh, dw), (span_h, span_w) = self.strides, self.dilation, self.span
        xp = pad(x, self.pads)
        for i in range(self.kh):
            for j in range(self.kw):
                r, q = i * dh, j * dw
                yield xp[:, r : r + span_h : sh, q : q + span_w : sw]  # (N, Ho, Wo, C)

    def _input_grad(self, dy: tf.Tensor, kernel: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        # The transpose of `forward`, written like it: the output gradient,
        # spread out by the strides and padded by the window's extent, read
        # through one view per offset (flipped) and multiplied and added. XLA
        # fuses that into one pass; autodiff's or a scatter's pads and adds
        # measured several times slower.
        kh, kw, (dh, dw), (hp, wp) = self.kh, self.kw, self.dilation, self.padded_hw
        c = x.shape[3]  # only its shape is used
        m = kernel.shape[3] // c
        dyd = dilate(dy, self.strides)  # (N, span_h, span_w, C*m)
        ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        padded = tf.pad(
            dyd, [[0, 0], [ekh - 1, hp - self.span[0]], [ekw - 1, wp - self.span[1]], [0, 0]]
        )  # (N, Hp + ekh - 1, Wp + ekw - 1, C*m)
        weights = tf.reshape(kernel, [kh, kw, c * m])
        d_xp = None
        for i in range(kh):
            for j in range(kw):
                r, q = ekh - 1 - i * dh, ekw - 1 - j * dw
                term = padded[:, r : r + hp, q : q + wp] * weights[i, j]  # (N, Hp, Wp, C*m)
                d_xp = term if d_xp is None else d_xp + term
        if m > 1:
            d_xp = tf.reduce_sum(tf.reshape(d_xp, [-1, hp, wp, c, m]), axis=-1)
        (top, _), (left, _), (h, w) = *self.pads, self.input_hw
        return d_xp[:, top : top + h, left : left + w]  # (N, H, W, C)

    def _kernel_grad(self, dy: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        c = x.shape[3]
        m = dy.shape[3] // c
        dy = tf.reshape(dy, [-1, c, m])  # (N*Ho*Wo, C, m)
        ones = tf.ones([1, tf.shape(dy)[0]], dy.dtype)
        d_weights = []
        for view in self._views(x):
            product = tf.reshape(tf.reshape(view, [-1, c, 1]) * dy, [-1, c * m])
            # The column sum as a matmul by ones: oneDNN's is several times
            # faster than a reduction over the leading axis (TensorFlow's or XLA's).
            d_weights.append(tf.matmul(ones, product))  # (1, C*m)
        return tf.reshape(tf.stack(d_weights), [self.kh, self.kw, 1, c * m])

    def backward(
        self, dy: tf.Tensor, x: tf.Tensor, kernel: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`(d_x, d_kernel)`."""
        return self._input_grad(dy, kernel, x), self._kernel_grad(dy, x)


@switches.shape_cache
def _depthwise_functions(
    kernel_shape: tuple[int, int, int, int],
    input_hw: tuple[int, int],
    pads: Pads,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    xla: bool,
) -> _Depthwise:
    """The cached `_Depthwise` of one shape (cached like `im2col._conv_functions`)."""
    return _Depthwise(kernel_shape, input_hw, pads, strides, dilation, xla)


def depthwise_conv(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    bias: tf.Tensor | None,
    pads: Pads,
) -> tf.Tensor:
    """`conv2d_valid` of a depthwise kernel `(kh, kw, 1, F)`, with explicit gradients."""
    fns = _depthwise_functions(
        tuple(kernel.shape),
        (x.shape[1], x.shape[2]),
        pads,
        tuple(strides),
        tuple(dilation),
        switches.XLA_CORE,
    )

    @tf.custom_gradient
    def _depthwise(x, kernel):
        return fns.forward(x, kernel), lambda dy: fns.backward(dy, x, kernel)

    y = _depthwise(x, kernel)
    return y if bias is None else tf.nn.bias_add(y, bias)
