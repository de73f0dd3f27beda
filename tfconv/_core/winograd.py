"""Winograd F(2x2, 3x3): 3x3 stride-1 convolutions with 2.25x fewer multiplications.

Y = A^T [(G g G^T) * (B^T d B)] A per 4x4 input tile d and 2x2 output tile
(Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"). The
transforms are adds and subtractions of strided slices, the 16 tile
positions 16 matmuls over channels; `winograd_conv` falls back to im2col for
non-finite inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfconv._core import switches
from tfconv._core.finite import all_finite, finite_sum
from tfconv._core.im2col import im2col_conv
from tfconv._core.shapes import Pads
from tfconv._core.windows import pad

_WINO_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


def winograd_eligible(
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
    output_hw: Sequence[int | None],
) -> bool:
    """Whether `conv2d_valid` takes the Winograd path for this conv.

    3x3, stride 1, no dilation, static output size, enough channels on both
    sides that im2col's nine-fold window copies, not the multiply, would be
    the cost, and outputs large enough that the 2x2 tiles cut at an odd edge
    waste little. The thresholds follow forward+backward timings of one
    thread (docs/bench/zoo_analysis.md, docs/bench/core_choices.md): a clear
    win from 32 channels on 16x16 outputs; at 16 channels, or 32 channels on
    11x11 outputs, im2col was faster.
    """
    kh, kw, ci, co = kernel_shape
    return (
        switches.WINOGRAD
        and (kh, kw) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and min(ci, co) >= switches.WINOGRAD_MIN_CHANNELS
        and None not in output_hw
        and min(output_hw) >= switches.WINOGRAD_MIN_OUTPUT  # type: ignore[type-var]
    )


def _combine(coefficients: tuple[tuple[int, ...], ...], parts: list[Any]) -> list[Any]:
    """`[sum_j c[i][j] * parts[j] for i]` for coefficients in {-1, 0, 1}, as adds.

    `parts` may be lists (of equal length) of tensors, combined position by
    position, so that one call transforms a whole row of tiles' values.
    """
    if isinstance(parts[0], list):
        return [
            list(t)
            for t in zip(
                *(_combine(coefficients, list(p)) for p in zip(*parts, strict=True)), strict=True
            )
        ]
    out = []
    for row in coefficients:
        total = None
        for c, p in zip(row, parts, strict=True):
            if c == 0:
                continue
            if total is None:
                total = p if c == 1 else -p
                continue
            total = total + p if c == 1 else total - p
        out.append(total)
    return out


_WINO_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_WINO_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _transpose(m: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(zip(*m, strict=True))


def winograd_out_hw(x: tf.Tensor, pads: Pads) -> tuple[int | None, int | None]:
    """Output size of a 3x3 stride-1 conv of `x` padded by `pads` (`None` if unknown)."""
    h, w = x.shape[1], x.shape[2]
    return (
        None if h is None else h + sum(pads[0]) - 2,
        None if w is None else w + sum(pads[1]) - 2,
    )


def _bt_rows(d: list[Any]) -> list[Any]:
    """B^T applied to 4 tile rows (or columns)."""
    return _combine(_WINO_BT, d)


def _b_rows(v: list[Any]) -> list[Any]:
    """B (the transpose of `_bt_rows`) applied to 4 transformed rows."""
    return _combine(_transpose(_WINO_BT), v)


def _at_rows(m: list[Any]) -> list[Any]:
    """A^T applied to 4 rows: the 2 output rows."""
    return _combine(_WINO_AT, m)


def _a_rows(y: list[Any]) -> list[Any]:
    """A (the transpose of `_at_rows`) applied to 2 output rows."""
    return _combine(_transpose(_WINO_AT), y)


def _overlap_add(parts: list[tf.Tensor], axis: int) -> tf.Tensor:
    """Adds 4 per-tile slices `parts[i]` (tile t's rows 2t+i) into one strip of 2T+2 rows."""
    pads_after = [[0, 0]] * 4
    pads_after[axis] = [0, 1]
    pads_before = [[0, 0]] * 4
    pads_before[axis] = [1, 0]
    even = tf.pad(parts[0], pads_after) + tf.pad(parts[2], pads_before)  # rows 2t
    odd = tf.pad(parts[1], pads_after) + tf.pad(parts[3], pads_before)  # rows 2t+1
    both = tf.stack([even, odd], axis=axis + 1)  # (..., T+1, 2, ...)
    shape = [-1 if i == 0 else s for i, s in enumerate(even.shape)]
    shape[axis] = 2 * even.shape[axis]
    del shape[axis + 1 :]
    return tf.reshape(both, shape + list(even.shape[axis + 1 :]))


class _Winograd:
    """Forward and gradient functions of one 3x3 stride-1 conv shape by Winograd F(2x2, 3x3).

    Built and cached by `_winograd_functions` (see there for the method).
    """

    def __init__(
        self, kernel_shape: tuple[int, int, int, int], input_hw: tuple[int, int], pads: Pads
    ) -> None:
        _, _, self.ci, self.co = kernel_shape
        self.input_hw, self.pads = input_hw, pads
        h, w = input_hw
        hp, wp = h + sum(pads[0]), w + sum(pads[1])
        self.out_hw = (hp - 2, wp - 2)
        self.tiles = (-(-self.out_hw[0] // 2), -(-self.out_hw[1] // 2))
        ty, tx = self.tiles
        # Tiles past an odd edge read zeros; their outputs are cut.
        (top, bottom), (left, right) = pads
        self.full_pads = ((top, bottom + 2 * ty + 2 - hp), (left, right + 2 * tx + 2 - wp))
        self.forward, self.transformed_grad, self.input_grad = switches.xla_if(
            True, self._forward, self._transformed_grad, self._input_grad
        )

    def _transformed_input(self, x: tf.Tensor) -> list[tf.Tensor]:
        ty, tx = self.tiles
        xq = pad(x, self.full_pads)  # (N, 2Ty+2, 2Tx+2, C)
        rows = _bt_rows([xq[:, i : i + 2 * ty : 2] for i in range(4)])  # 4 x (N, Ty, Wq, C)
        v = [t for r in rows for t in _bt_rows([r[:, :, j : j + 2 * tx : 2] for j in range(4)])]
        return [tf.reshape(t, [-1, self.ci]) for t in v]  # 16 x (N*Ty*Tx, C), a-major

    def _transformed_kernel(self, kernel: tf.Tensor) -> list[tf.Tensor]:
        # G k G^T as two matmuls, not an einsum: TFLite has no builtin EINSUM.
        ci, co = self.ci, self.co
        gk = tf.constant(_WINO_G, kernel.dtype)
        k = tf.reshape(kernel, [3, 3 * ci * co])  # (i, j*C*F)
        k = tf.reshape(tf.matmul(gk, k), [4, 3, ci * co])  # (a, j, C*F)
        k = tf.reshape(tf.transpose(k, [1, 0, 2]), [3, 4 * ci * co])  # (j, a*C*F)
        u = tf.matmul(gk, k)  # (b, a*C*F)
        u = tf.transpose(tf.reshape(u, [4, 4, ci, co]), [1, 0, 2, 3])  # (a, b, C, F)
        return tf.unstack(tf.reshape(u, [16, ci, co]))

    def _forward(
        self, x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tuple[tf.Tensor, ...]]:
        (ty, tx), (ho, wo), co = self.tiles, self.out_hw, self.co
        v = self._transformed_input(x)
        m = [
            tf.reshape(tf.matmul(a, b), [-1, ty, tx, co])
            for a, b in zip(v, self._transformed_kernel(kernel), strict=True)
        ]
        rows = _at_rows([m[4 * a : 4 * a + 4] for a in range(4)])  # 2 x 4 x (N, Ty, Tx, F)
        y = [t for r in rows for t in _at_rows(r)]  # y00 y01 y10 y11
        y = tf.stack([tf.stack(y[:2], axis=3), tf.stack(y[2:], axis=3)], axis=2)
        y = tf.reshape(y, [-1, 2 * ty, 2 * tx, co])  # (N, 2Ty, 2Tx, F)
        if 2 * ty != ho or 2 * tx != wo:
            y = y[:, :ho, :wo]
        if bias is not None:
            y = y + bias
        return y, tuple(v)

    def _transformed_grad(self, dy: tf.Tensor) -> tuple[tf.Tensor, ...]:
        (ty, tx), (ho, wo), co = self.tiles, self.out_hw, self.co
        dy = tf.pad(dy, [[0, 0], [0, 2 * ty - ho], [0, 2 * tx - wo], [0, 0]])
        dy = tf.reshape(dy, [-1, ty, 2, tx, 2, co])  # (N, Ty, 2, Tx, 2, F)
        rows = _a_rows([dy[:, :, u] for u in range(2)])  # 4 x (N, Ty, Tx, 2, F)
        dm = [t for r in rows for t in _a_rows([r[:, :, :, v] for v in range(2)])]
        return tuple(tf.reshape(t, [-1, co]) for t in dm)  # 16 x (N*Ty*Tx, F)

    def kernel_grad(self, dm: tuple[tf.Tensor, ...], v: tuple[tf.Tensor, ...]) -> tf.Tensor:
        """The kernel gradient from the transformed output gradient and input tiles."""
        # Outside XLA: its dot of two tall matrices over their long axis ran
        # slower than TensorFlow's matmul kernel.
        du = tf.stack([tf.matmul(a, b, transpose_a=True) for a, b in zip(v, dm, strict=True)])
        gk = tf.constant(_WINO_G, du.dtype)
        return tf.einsum("ai,abcf,bj->ijcf", gk, tf.reshape(du, [4, 4, self.ci, self.co]), gk)

    def _input_grad(self, dm: tuple[tf.Tensor, ...], kernel: tf.Tensor) -> tf.Tensor:
        (ty, tx), ci = self.tiles, self.ci
        u = self._transformed_kernel(kernel)
        dv = [
            tf.reshape(tf.matmul(a, b, transpose_b=True), [-1, ty, tx, ci])
            for a, b in zip(dm, u, strict=True)
        ]
        rows = []
        for parts in _b_rows([dv[4 * a : 4 * a + 4] for a in range(4)]):  # 4 x 4 x (N, Ty, Tx, C)
            rows.append(_overlap_add(_b_rows(parts), axis=2))  # (N, Ty, 2Tx+2, C)
        dxq = _overlap_add(rows, axis=1)  # (N, 2Ty+2, 2Tx+2, C)
        (top, _), (left, _), (h, w) = *self.pads, self.input_hw
        return dxq[:, top : top + h, left : left + w]

    def bias_grad(self, dy: tf.Tensor) -> tf.Tensor:
        """The bias gradient: column sums of `dy`."""
        return tf.raw_ops.BiasAddGrad(out_backprop=tf.reshape(dy, [-1, self.co]))


@switches.shape_cache
def _winograd_functions(
    kernel_shape: tuple[int, int, int, int], input_hw: tuple[int, int], pads: Pads
) -> _Winograd:
    """Forward and gradient functions of a 3x3 stride-1 conv by Winograd F(2x2, 3x3).

    `forward`, `transformed_grad`, `kernel_grad`, `input_grad`, `bias_grad`:
    the forward returns the transformed input tiles too (the kernel
    gradient's operand), and both weight and input gradients take the
    transformed output gradient. Each 4x4 input tile (tiles overlap by 2)
    becomes 16 transformed values by adds and subtractions, the 16 tile
    positions are 16 matmuls over channels (2.25x fewer multiplications than
    im2col's), and the output transform adds them back to 2x2 outputs.
    Everything but the kernel gradient is XLA-compiled: the transforms are
    elementwise over strided slices, each one fused pass. The 16 transformed
    tensors stay separate (a stack of them made XLA's fused pass slower,
    docs/bench/zoo_analysis.md). The gradients are the transposed transforms
    and matmuls, explicit.

    A pixel enters only the transformed values of the outputs whose windows
    hold it (F(2x2, 3x3)'s transforms are that sparse; larger tiles' are
    not), so a NaN reaches exactly those outputs, as in Keras, and a NaN of
    the output gradient exactly the input gradients whose windows hold it.
    An infinite value, though, meets both signs of the transforms (inf - inf)
    and gives NaN where a direct sum gives +-inf: `winograd_conv` sends
    non-finite inputs and kernels to im2col; an infinite output gradient
    still gives NaN where Keras gives +-inf.
    """
    return _Winograd(kernel_shape, input_hw, pads)


def winograd_conv(
    x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None, pads: Pads
) -> tf.Tensor:
    """`_winograd_conv`, or plain im2col when `x` or `kernel` holds an Inf or NaN.

    An infinite pixel meets both signs of Winograd's transforms (inf - inf)
    and gives NaN where Keras's direct sum gives +-inf; the im2col path
    (`block=1`, no banded zeros) propagates non-finite values as Keras does.
    The check is one sum of the input, cheap next to the convolution; with
    `export_graph()` (TFLite export) it is left out, and an infinite
    input may give NaN where Keras gives +-inf (NaN inputs stay exact).
    """
    if switches.exporting():
        return _winograd_conv(x, kernel, bias, pads)
    return tf.cond(
        tf.logical_and(finite_sum(x), all_finite(kernel)),
        lambda: _winograd_conv(x, kernel, bias, pads),
        lambda: im2col_conv(x, kernel, block=1, bias=bias, pads=pads),
    )


def _winograd_conv(
    x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None, pads: Pads
) -> tf.Tensor:
    """`conv2d_valid` of a `winograd_eligible` conv, with explicit gradients.

    The output gradient is transformed once and shared by the kernel and the
    input gradient; an unused input gradient (a model's first layer) is pruned.
    """
    fns = _winograd_functions(tuple(kernel.shape), (x.shape[1], x.shape[2]), pads)

    def backward(dy, v):
        dm = fns.transformed_grad(dy)
        return fns.input_grad(dm, kernel), fns.kernel_grad(dm, v)

    if bias is None:

        @tf.custom_gradient
        def _conv(x, kernel):
            y, v = fns.forward(x, kernel)
            return y, lambda dy: backward(dy, v)

        return _conv(x, kernel)

    @tf.custom_gradient
    def _conv_bias(x, kernel, bias):
        y, v = fns.forward(x, kernel, bias)
        return y, lambda dy: (*backward(dy, v), fns.bias_grad(dy))

    return _conv_bias(x, kernel, bias)
