"""im2col and banded convolution: one matrix product over gathered windows, explicit gradients.

`im2col_conv` runs a statically shaped conv (grouped ones included) through
the per-shape functions of `_conv_functions`: a gather of channel vectors
builds every window (or every tile of `block` outputs), one matmul applies
the (banded) kernel, and the gradients are matmuls plus `col2im`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfconv._core import switches
from tfconv._core.finite import all_finite, finite_sum
from tfconv._core.shapes import Pads, output_length
from tfconv._core.windows import col2im, pad, positions, tap_positions


def choose_block(kernel_shape: Sequence[int], out_w: int, stride_w: int) -> int:
    """Output columns computed per matmul row (see `conv2d_valid`).

    Few input channels make im2col patches long and thin, so several output
    columns share one wider patch (a small banded kernel) at the price of a
    few multiplications by zero. The rule follows forward+backward timings of
    blocks 1 to 6 on LeNet's two convolutions: it picks the fastest block of
    each, 4 for conv1 (1 -> 6 channels) and 2 for conv2 (6 -> 16)
    (docs/bench/core_choices.md).
    """
    _, kw, ci, _ = kernel_shape
    if kw == 1 or ci * kw >= 32 or stride_w > 1:
        return 1
    return max(1, min(out_w, 32 // (ci * kw) + 1, 4))


def _placement(kw: int, sw: int, dw: int, block: int) -> np.ndarray:
    """0/1 tensor (tile_w, kw, block): kernel column j feeds output v at tile column u."""
    tile_w = (block - 1) * sw + (kw - 1) * dw + 1
    place = np.zeros((tile_w, kw, block), np.float32)
    for v in range(block):
        for j in range(kw):
            place[v * sw + j * dw, j, v] = 1.0
    return place


@dataclasses.dataclass(frozen=True)
class _Geometry:
    """Sizes of one conv shape: input, padded input, output, tiles and window depth."""

    kernel_shape: tuple[int, int, int, int]
    input_hw: tuple[int, int]
    pads: Pads
    strides: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    padded_hw: tuple[int, int]
    out_hw: tuple[int, int]
    block: int
    n_tiles: int
    tile_w: int
    depth: int
    pointwise: bool


def _geometry(
    kernel_shape: tuple[int, int, int, int],
    input_hw: tuple[int, int],
    pads: Pads,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    block: int | None,
    groups: int,
) -> _Geometry:
    """The `_Geometry` of a conv; `block=None` lets `choose_block` pick."""
    kh, kw, ci, _ = kernel_shape
    (sh, sw), (dh, dw) = strides, dilation
    hp, wp = input_hw[0] + sum(pads[0]), input_hw[1] + sum(pads[1])
    ekw = (kw - 1) * dw + 1
    ho = output_length(hp, (kh - 1) * dh + 1, 0, sh)
    wo = output_length(wp, ekw, 0, sw)
    if groups > 1:
        block = 1
    block = choose_block(kernel_shape, wo, sw) if block is None else min(block, wo)
    tile_w = (block - 1) * sw + ekw
    return _Geometry(
        kernel_shape=kernel_shape,
        input_hw=input_hw,
        pads=pads,
        strides=strides,
        dilation=dilation,
        groups=groups,
        padded_hw=(hp, wp),
        out_hw=(ho, wo),
        block=block,
        n_tiles=-(-wo // block),
        tile_w=tile_w,
        depth=kh * tile_w * ci if block > 1 else kh * kw * ci,
        pointwise=(kh, kw, strides, pads) == (1, 1, (1, 1), ((0, 0), (0, 0))),
    )


class _Im2col:
    """The forward, kernel-, input- and bias-gradient functions of one conv shape.

    Built by `_conv_functions` (see there). Methods, not closures, so that
    each step has a name; the few that run under XLA are compiled once, here.
    """

    def __init__(self, geo: _Geometry, xla: bool, exact: _Im2col | None) -> None:
        self.geo, self.exact = geo, exact
        kh, kw, ci, co = geo.kernel_shape
        (sh, sw), (dh, dw) = geo.strides, geo.dilation
        (ho, wo), wp = geo.out_hw, geo.padded_hw[1]
        self.g, self.fg = geo.groups, co // geo.groups
        self.place = _placement(kw, sw, dw, geo.block) if geo.block > 1 else None
        rows = tap_positions(ho, sh, kh, dh)  # (Ho, kh) input rows of each output row
        if geo.block > 1:
            # Two gathers: tile columns (C-vectors), then tile rows (runs of
            # tile_w*C values): fewer, longer copies than one gather of every
            # C-vector, faster in training and in TFLite alike
            # (docs/bench/core_choices.md). The last tile's columns past the
            # edge are clamped onto it: their outputs are cut and their output
            # gradients are zero, so what they read never matters.
            columns = tap_positions(geo.n_tiles, geo.block * sw, geo.tile_w, 1)
            self.columns = np.minimum(columns, wp - 1).reshape(-1)
            # (Ho*tiles*kh,) into the (Hp*tiles) rows of tiles the first gather makes
            self.tile_rows = (
                rows[:, None, :] * geo.n_tiles + np.arange(geo.n_tiles)[None, :, None]
            ).reshape(-1)
        else:
            cols = tap_positions(wo, sw, kw, dw)  # (Wo, kw)
            self.index = (rows[:, None, :, None] * wp + cols[None, :, None, :]).reshape(-1)
        # Where each gathered vector is a few bytes (one pixel's channels, or
        # the first stage's columns), TensorFlow's gather kernel is slow per
        # element and XLA's wins; on long runs (the second stage, or vectors of
        # 4 channels and more) TensorFlow's wins (docs/bench/core_choices.md).
        # XLA fuses col2im's pads and adds into one pass; TensorFlow would
        # materialise every padded view.
        (self._gather_columns, self._scatter) = switches.xla_if(
            xla, self._gather_columns, self._scatter
        )
        (self._gather_pixels,) = switches.xla_if(xla and ci < 4, self._gather_pixels)

    # -- windows ------------------------------------------------------------

    def _to_groups(self, x: tf.Tensor) -> tf.Tensor:
        if self.g == 1:
            return x
        (h, w), ci, g = self.geo.input_hw, self.geo.kernel_shape[2], self.g
        x = tf.reshape(x, [-1, h, w, g, ci])  # (N, H, W, G, C/G)
        return tf.reshape(tf.transpose(x, [3, 0, 1, 2, 4]), [-1, h, w, ci])  # (G*N, H, W, C/G)

    def _from_groups(self, d_x: tf.Tensor) -> tf.Tensor:
        if self.g == 1:
            return d_x
        (h, w), ci, g = self.geo.input_hw, self.geo.kernel_shape[2], self.g
        d_x = tf.reshape(d_x, [g, -1, h, w, ci])  # (G, N, H, W, C/G)
        return tf.reshape(tf.transpose(d_x, [1, 2, 3, 0, 4]), [-1, h, w, g * ci])  # (N, H, W, C)

    def _gather_columns(self, xp: tf.Tensor) -> tf.Tensor:
        return tf.gather(xp, positions(self.columns), axis=2)  # (N, Hp, tiles*tile_w, C)

    def _gather_pixels(self, xp: tf.Tensor) -> tf.Tensor:
        (hp, wp), ci = self.geo.padded_hw, self.geo.kernel_shape[2]
        pixels = tf.reshape(xp, [-1, hp * wp, ci])  # (N, Hp*Wp, C)
        return tf.gather(pixels, positions(self.index), axis=1)  # (N, Ho*Wo*kh*kw, C)

    def _gather(self, x: tf.Tensor) -> tf.Tensor:
        # Gathers of whole C-vectors build every tile, faster than strided
        # slices + concatenation, which copy C values at a time once per kernel
        # offset and again per concatenation (docs/bench/core_choices.md).
        geo = self.geo
        xp = pad(x, geo.pads)
        if geo.block > 1:
            ci, hp = geo.kernel_shape[2], geo.padded_hw[0]
            cols = tf.reshape(self._gather_columns(xp), [-1, hp * geo.n_tiles, geo.tile_w * ci])
            # (N, Ho*tiles*kh, tile_w*C)
            tiles = tf.gather(cols, positions(self.tile_rows), axis=1)
        else:
            tiles = self._gather_pixels(xp)
        return tf.reshape(tiles, [-1, geo.depth])  # (N*Ho*tiles, depth)

    def windows(self, x: tf.Tensor) -> tf.Tensor:
        """The im2col rows of `x`: (N*Ho*tiles, depth), or (G, N*Ho*Wo, depth) grouped."""
        depth = self.geo.depth
        xg = self._to_groups(x)
        flat = tf.reshape(xg, [-1, depth]) if self.geo.pointwise else self._gather(xg)
        return flat if self.g == 1 else tf.reshape(flat, [self.g, -1, depth])

    # -- forward ------------------------------------------------------------

    def _banded(self, kernel: tf.Tensor) -> tf.Tensor:
        depth, (co, g) = self.geo.depth, (self.geo.kernel_shape[3], self.g)
        if g > 1:
            # (G, depth, F/G)
            return tf.transpose(tf.reshape(kernel, [depth, g, self.fg]), [1, 0, 2])
        if self.place is None:
            return tf.reshape(kernel, [depth, co])  # (kh*kw*C, F)
        band = tf.einsum("ujv,ijcf->iucvf", tf.constant(self.place, kernel.dtype), kernel)
        return tf.reshape(band, [depth, self.geo.block * co])  # (kh*tile_w*C, block*F)

    def _banded_forward(
        self, flat: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None
    ) -> tf.Tensor:
        geo, co = self.geo, self.geo.kernel_shape[3]
        (ho, wo), block = geo.out_hw, geo.block
        y = tf.matmul(flat, self._banded(kernel))  # (N*Ho*tiles, block*F) or (G, N*Ho*Wo, F/G)
        if self.g > 1:
            y = tf.reshape(tf.transpose(y, [1, 0, 2]), [-1, co])  # (N*Ho*Wo, F)
        if bias is not None:
            # On the matmul's 2-D output, where oneDNN fuses it into the
            # matmul; a broadcast add after the reshape is a separate pass.
            y = tf.nn.bias_add(y, tf.tile(bias, [block]) if block > 1 else bias)
        # -1, not a dynamic batch size: in TFLite that would be SHAPE and
        # slicing ops, which split XNNPACK's partitions.
        y = tf.reshape(y, [-1, ho, geo.n_tiles * block, co])  # (N, Ho, tiles*block, F)
        return y if geo.n_tiles * block == wo else y[:, :, :wo]

    def forward(
        self, x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """`(y, flat)`: the output and the windows the kernel gradient reuses."""
        flat = self.windows(x)
        y = self._banded_forward(flat, kernel, bias)
        exact = self.exact
        if exact is not None and not switches.exporting():
            y = tf.cond(
                tf.logical_and(finite_sum(x), all_finite(kernel)),
                lambda: y,
                lambda: exact.forward(x, kernel, bias)[0],
            )
        return y, flat

    # -- gradients ----------------------------------------------------------
    # Kernel and input gradients are separate functions, so that an unused
    # input gradient (the first layer's) is pruned from the graph instead of
    # computed.

    def _pad_dy(self, dy: tf.Tensor) -> tf.Tensor:
        geo, co = self.geo, self.geo.kernel_shape[3]
        wo, block = geo.out_hw[1], geo.block
        if self.g > 1:
            # (G, N*Ho*Wo, F/G)
            return tf.transpose(tf.reshape(dy, [-1, self.g, self.fg]), [1, 0, 2])
        if geo.n_tiles * block != wo:
            dy = tf.pad(dy, [[0, 0], [0, 0], [0, geo.n_tiles * block - wo], [0, 0]])
        return tf.reshape(dy, [-1, block * co])  # (N*Ho*tiles, block*F)

    def _fold(self, d_band: tf.Tensor) -> tf.Tensor:
        kh, _, ci, co = self.geo.kernel_shape
        d_band = tf.reshape(d_band, [kh, self.geo.tile_w, ci, self.geo.block, co])
        return tf.einsum("ujv,iucvf->ijcf", tf.constant(self.place, d_band.dtype), d_band)

    def kernel_grad(self, dy: tf.Tensor, flat: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
        """The kernel gradient, from the forward pass's windows `flat`."""
        kh, kw, ci, co = self.geo.kernel_shape
        d_band = tf.matmul(flat, self._pad_dy(dy), transpose_a=True)  # (depth, block*F)
        if self.g > 1:
            return tf.reshape(tf.transpose(d_band, [1, 0, 2]), [kh, kw, ci, co])
        if self.place is None:
            return tf.reshape(d_band, [kh, kw, ci, co])
        d_kernel = self._fold(d_band)
        exact = self.exact
        if exact is None or switches.exporting():
            return d_kernel
        # A non-finite window cell or output gradient makes `d_band` non-finite
        # (NaN * 0 is NaN), so this small check stands for one over both.
        return tf.cond(
            all_finite(d_band),
            lambda: d_kernel,
            lambda: exact.kernel_grad(dy, exact.windows(x), x),
        )

    def bias_grad(self, dy: tf.Tensor) -> tf.Tensor:
        """The bias gradient: column sums of `dy`."""
        co, block = self.geo.kernel_shape[3], self.geo.block
        if self.g > 1:
            return tf.reduce_sum(tf.reshape(dy, [-1, co]), 0)
        # BiasAddGrad on the 2-D (banded) gradient: a reduction over a few
        # wide columns, faster than summing the 4-D gradient
        # (docs/bench/core_choices.md).
        d_bias = tf.raw_ops.BiasAddGrad(out_backprop=self._pad_dy(dy))  # (block*F,)
        return d_bias if block == 1 else tf.reduce_sum(tf.reshape(d_bias, [block, co]), 0)

    def _scatter(self, d_tiles: tf.Tensor) -> tf.Tensor:
        geo = self.geo
        kh, kw = geo.kernel_shape[:2]
        (sh, sw), (dh, _) = geo.strides, geo.dilation
        if geo.block == 1:
            d_x = col2im(d_tiles, geo.padded_hw, (kh, kw), geo.strides, geo.dilation)
        else:
            d_x = col2im(d_tiles, geo.padded_hw, (kh, geo.tile_w), (sh, geo.block * sw), (dh, 1))
        (top, _), (left, _) = geo.pads
        h, w = geo.input_hw
        return d_x[:, top : top + h, left : left + w]  # (N, H, W, C): padding cut

    def _banded_input_grad(self, dy: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        geo = self.geo
        n = tf.shape(dy)[0] * self.g
        d_tiles = tf.matmul(self._pad_dy(dy), self._banded(kernel), transpose_b=True)
        d_tiles = tf.reshape(d_tiles, [n, geo.out_hw[0], geo.n_tiles, geo.depth])
        return self._from_groups(d_tiles if geo.pointwise else self._scatter(d_tiles))

    def input_grad(self, dy: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        """The input gradient: one matmul into window space, then `col2im`."""
        d_x = self._banded_input_grad(dy, kernel)
        exact = self.exact
        if exact is None or switches.exporting():
            return d_x
        # The column sums of `dy` are non-finite if any of it is; they are the
        # bias gradient, so with a bias the check costs nothing (one graph node).
        dy_sums = tf.raw_ops.BiasAddGrad(out_backprop=self._pad_dy(dy))
        return tf.cond(
            all_finite(dy_sums, kernel), lambda: d_x, lambda: exact.input_grad(dy, kernel)
        )


@switches.shape_cache
def _conv_functions(
    kernel_shape: tuple[int, int, int, int],
    input_hw: tuple[int, int],
    pads: Pads,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    block: int | None,
    xla: bool,
    groups: int = 1,
) -> _Im2col:
    """The forward, kernel-, input- and bias-gradient functions of one conv shape.

    Cached, so that eager calls (and every model traced with this shape) reuse
    one set of functions (and XLA compilations) instead of rebuilding them.

    With `groups > 1`, `kernel_shape` is Keras's grouped kernel
    `(kh, kw, C/groups, F)`. The input is regrouped as `(groups*N, H, W,
    C/groups)` so that one gather builds every group's windows, and one batched
    matmul multiplies each group by its own kernel slice (no block-diagonal
    kernel, whose zeros would cost multiplications and spread NaN across
    groups). Grouped convolutions use block 1.

    The banded kernel (block > 1) multiplies window cells an output does not
    read by structural zeros, and `0 * NaN` or `0 * Inf` is NaN: one NaN pixel
    would reach every output of its tile row. So while its operands are not
    all finite (checked at every call; a reduction over the input, cheap next
    to the windows), each pass falls back to the exact block-1 functions,
    where a non-finite value reaches exactly the outputs (and gradients)
    whose windows hold it, as in Keras.
    """
    geo = _geometry(kernel_shape, input_hw, pads, strides, dilation, block, groups)
    exact = None
    if geo.block > 1:
        exact = _conv_functions(kernel_shape, input_hw, pads, strides, dilation, 1, xla)
    return _Im2col(geo, xla, exact)


def im2col_conv(
    x: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    block: int | None = None,
    bias: tf.Tensor | None = None,
    pads: Pads = ((0, 0), (0, 0)),
    groups: int = 1,
) -> tf.Tensor:
    """`conv2d_valid` by im2col (`block=1`) or banded tiles, with explicit gradients."""
    fns = _conv_functions(
        tuple(kernel.shape),
        (x.shape[1], x.shape[2]),
        pads,
        tuple(strides),
        tuple(dilation),
        block,
        switches.XLA_CORE,
        groups,
    )
    if bias is None:

        @tf.custom_gradient
        def _conv(x, kernel):
            y, flat = fns.forward(x, kernel)
            return y, lambda dy: (fns.input_grad(dy, kernel), fns.kernel_grad(dy, flat, x))

        return _conv(x, kernel)

    @tf.custom_gradient
    def _conv_bias(x, kernel, bias):
        y, flat = fns.forward(x, kernel, bias)
        return y, lambda dy: (
            fns.input_grad(dy, kernel),
            fns.kernel_grad(dy, flat, x),
            fns.bias_grad(dy),
        )

    return _conv_bias(x, kernel, bias)
