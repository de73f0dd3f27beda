"""The sliding-window core shared by `tfconv.ops` and `tfconv.layers`.

Everything here works on channels-last (NHWC) tensors with static spatial
sizes. Nothing calls TensorFlow's or Keras's convolution or pooling kernels:
windows are gathered with `tf.gather` (im2col), convolution is one matrix
product over the gathered windows, and pooling is a separable reduction
(columns, then rows). All of these lower to TFLite builtin ops.

Shape arithmetic lives in pure functions (`normalize_*`, `output_length`,
`resolve_padding`) so that layers, ops and tests agree on one formula.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

# Compile the window gathering and its matmuls with XLA (fused, no
# intermediate copies) even when the surrounding model is not compiled.
XLA_CORE = os.environ.get("TFCONV_XLA_CORE", "1") != "0"
# 3x3 stride-1 convs with at least this many input and output channels and
# output rows and columns run by Winograd F(2x2, 3x3) (`winograd_eligible`);
# TFCONV_WINOGRAD=0 turns it off.
WINOGRAD = os.environ.get("TFCONV_WINOGRAD", "1") != "0"
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_OUTPUT = 14

Pads = tuple[tuple[int, int], tuple[int, int]]


# --------------------------------------------------------------------------
# Argument normalisation (pure Python, shared by layers, ops and tests)
# --------------------------------------------------------------------------


def normalize_pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """Turns an int or a pair of ints into a validated `(h, w)` tuple."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`{name}` must be an int or a tuple of 2 ints. Received: {name}={value!r}"
        )
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        if not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value
        ):
            raise TypeError(
                f"`{name}` must be an int or a tuple of 2 ints. Received: {name}={value!r}"
            )
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(
            f"`{name}` must be an int or a tuple of 2 ints. Received: {name}={value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(
            f"`{name}` must be >= {minimum} along both axes. Received: {name}={value!r}"
        )
    return pair


def normalize_padding(padding: Any) -> str | Pads:
    """Validates a padding argument.

    Returns `"valid"`, `"same"` or explicit per-side zero padding
    `((top, bottom), (left, right))`. An int `p` pads `p` on every side and a
    pair `(p_h, p_w)` pads `p_h` above and below and `p_w` left and right, as
    the book's `padding` argument does.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("valid", "same"):
            raise ValueError(
                "`padding` must be 'valid', 'same', an int or a tuple of 2 ints. "
                f"Received: padding={padding!r}"
            )
        return mode
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        flat = [v for p in padding for v in p]
        if len(flat) != 4 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat
        ):
            raise TypeError(
                "`padding` given per side must be ((top, bottom), (left, right)) ints. "
                f"Received: padding={padding!r}"
            )
        if min(flat) < 0:
            raise ValueError(f"`padding` must be non-negative. Received: padding={padding!r}")
        return ((int(flat[0]), int(flat[1])), (int(flat[2]), int(flat[3])))
    try:
        ph, pw = normalize_pair(padding, "padding", minimum=0)
    except TypeError:
        raise TypeError(
            "`padding` must be 'valid', 'same', an int or a tuple of 2 ints. "
            f"Received: padding={padding!r}"
        ) from None
    return ((ph, ph), (pw, pw))


def normalize_data_format(value: Any) -> str:
    """`"channels_last"` or `"channels_first"`; `None` means `keras.config.image_data_format()`."""
    if value is None:
        import keras

        return keras.config.image_data_format()
    if isinstance(value, str) and value.lower() in ("channels_last", "channels_first"):
        return value.lower()
    raise ValueError(
        "`data_format` must be 'channels_last', 'channels_first' or None. "
        f"Received: data_format={value!r}"
    )


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME split: the extra row or column goes after."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: str | Pads,
    input_hw: Sequence[int],
    kernel_hw: Sequence[int],
    strides: Sequence[int],
) -> Pads:
    """Per-side padding for a normalised `padding`, given the input size.

    `kernel_hw` is the effective (dilated) window extent.
    """
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return (
            same_pads(input_hw[0], kernel_hw[0], strides[0]),
            same_pads(input_hw[1], kernel_hw[1], strides[1]),
        )
    return padding  # type: ignore[return-value]


def output_length(n: int, k: int, pad_total: int, s: int) -> int:
    """The book's formula, floor((n - k + p_total + s) / s)."""
    return (n - k + pad_total + s) // s


def window_output_hw(
    input_hw: Sequence[int | None],
    kernel_hw: Sequence[int],
    strides: Sequence[int],
    padding: str | Pads,
    dilation: Sequence[int] = (1, 1),
) -> tuple[int | None, int | None]:
    """Output height and width of a sliding window; `None` stays `None`."""
    out = []
    for axis in range(2):
        n = input_hw[axis]
        if n is None:
            out.append(None)
            continue
        k = (kernel_hw[axis] - 1) * dilation[axis] + 1
        s = strides[axis]
        if padding == "same":
            out.append(-(-n // s))
        elif padding == "valid":
            out.append(output_length(n, k, 0, s))
        else:
            out.append(output_length(n, k, sum(padding[axis]), s))  # type: ignore[index]
    return out[0], out[1]


# --------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------


def _pad(x: tf.Tensor, pads: Pads, value: float = 0.0) -> tf.Tensor:
    if pads == ((0, 0), (0, 0)):
        return x
    (top, bottom), (left, right) = pads
    _, h, w, c = x.shape
    # Padded as rows of W*C values: TFLite's (XNNPACK's) PAD copies the
    # innermost axis in runs, and with one channel a 4-D pad copied single
    # values (LeNet conv1, one image: 7.3 us of a 29 us inference).
    rows = tf.reshape(x, [-1, h, w * c])  # (N, H, W*C)
    rows = tf.pad(rows, [[0, 0], [top, bottom], [left * c, right * c]], constant_values=value)
    return tf.reshape(rows, [-1, h + top + bottom, w + left + right, c])  # (N, Hp, Wp, C)


def _windows(x: tf.Tensor, k: int, s: int, d: int, n_out: int, axis: int) -> list[tf.Tensor]:
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


def _dilate(x: tf.Tensor, strides: tuple[int, int]) -> tf.Tensor:
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


def _scatter_windows(views: list[tf.Tensor], length: int, s: int, d: int, axis: int) -> tf.Tensor:
    """Transpose of `_windows`: adds each view back at its strided offset."""
    out = []
    for i, v in enumerate(views):
        v = _dilate(v, (s, 1) if axis == 1 else (1, s))
        before = i * d
        after = length - before - v.shape[axis]
        pads = [[0, 0]] * 4
        pads[axis] = [before, after]
        out.append(tf.pad(v, pads))
    return out[0] if len(out) == 1 else tf.add_n(out)


def _taps(count: int, stride: int, taps: int, step: int) -> np.ndarray:
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
    for cell, column in enumerate(_taps(n_out, s, k, d).reshape(-1)):
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
    x = _scatter_windows(rows, hp, sh, dh, axis=1)  # (N, Hp, Wo, kw*C)
    # Columns gather what reads them and sum: under XLA 2-4x faster than
    # scattering kw strided views with pads (LeNet conv2: 2.7 -> 1.6 ms).
    index, slots = _column_slots(wo, sw, kw, dw, wp)
    x = tf.reshape(x, [-1, hp, wo * kw, c])  # (N, Hp, Wo*kw, C)
    x = tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0]])  # the zero cell
    x = tf.gather(x, tf.constant(index), axis=2)  # (N, Hp, Wp*slots, C)
    return tf.reduce_sum(tf.reshape(x, [-1, hp, wp, slots, c]), axis=3)  # (N, Hp, Wp, C)


def _placement(kw: int, sw: int, dw: int, block: int) -> np.ndarray:
    """0/1 tensor (tile_w, kw, block): kernel column j feeds output v at tile column u."""
    tile_w = (block - 1) * sw + (kw - 1) * dw + 1
    place = np.zeros((tile_w, kw, block), np.float32)
    for v in range(block):
        for j in range(kw):
            place[v * sw + j * dw, j, v] = 1.0
    return place


def choose_block(kernel_shape: Sequence[int], out_w: int, stride_w: int) -> int:
    """Output columns computed per matmul row (see `conv2d_valid`).

    Few input channels make im2col patches long and thin, so several output
    columns share one wider patch (a small banded kernel) at the price of a
    few multiplications by zero. Measured forward+backward, single-thread CPU
    ms at batch 256, blocks 1/2/3/4/6: LeNet conv1 (1->6 channels) 6.8/4.3/
    5.3/4.0/5.1 (Keras 4.1), conv2 (6->16) 12.0/8.9/10.3/10.3/10.7; this
    rule picks 4 and 2.
    """
    _, kw, ci, _ = kernel_shape
    if kw == 1 or ci * kw >= 32 or stride_w > 1:
        return 1
    return max(1, min(out_w, 32 // (ci * kw) + 1, 4))


# True while layers trace for an exported TFLite file (see `export_graph`).
_EXPORT_GRAPH = False


def _positions(index: np.ndarray) -> tf.Tensor:
    """Gather positions as a constant: int32, or int16 under `export_graph()`.

    int32 in the graphs that train: TensorFlow 2.21 has GPU `GatherV2` kernels
    for int32 and int64 positions only, so an int16 gather outside XLA would
    run on the CPU every step.
    """
    small = _EXPORT_GRAPH and (index.size == 0 or index.max() < 2**15)
    return tf.constant(index.astype(np.int16 if small else np.int32))


@contextlib.contextmanager
def export_graph() -> Iterator[None]:
    """Within it, layers trace for an exported TFLite file rather than for training.

    Three things differ, each for the file's size or XNNPACK's speed:
    - gathers take int16 positions where they fit (the positions are stored
      in the file, where int16 halves their bytes);
    - the banded convolution has no non-finite checks: a reduction and an IF
      op per layer would split XNNPACK's partitions (a NaN or Inf input may
      then reach a few more outputs of its tile row);
    - max pooling is a plain MAXIMUM chain: Keras's NaN rules (`_keras_max`)
      become compare and SELECT_V2 ops, which XNNPACK does not take.
    The per-shape function caches are swapped for empty ones meanwhile, so
    that functions traced here never reach a training graph and cached
    training ones are not reused here. Not thread-safe: a model traced for
    training in another thread meanwhile would get the exported graph's form.
    """
    global _EXPORT_GRAPH
    saved = {k: v for k, v in globals().items() if callable(getattr(v, "cache_clear", None))}
    previous = _EXPORT_GRAPH
    globals().update(
        {k: functools.lru_cache(v.cache_info().maxsize)(v.__wrapped__) for k, v in saved.items()}
    )
    _EXPORT_GRAPH = True
    try:
        yield
    finally:
        _EXPORT_GRAPH = previous
        globals().update(saved)


def _all_finite(*tensors: tf.Tensor) -> tf.Tensor:
    """Whether every value of `tensors` is finite (a scalar bool); for small tensors."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def _finite_sum(x: tf.Tensor) -> tf.Tensor:
    """Whether `x` is all finite, from one sum: any NaN or Inf makes it non-finite.

    One reduction, cheaper than `is_finite` and a second one. A sum that
    overflows reads as non-finite, which only costs a detour through the
    exact path, never a wrong result; float16 sums overflow too often for that.
    """
    if x.dtype == tf.float16:
        return tf.reduce_all(tf.math.is_finite(x))
    return tf.math.is_finite(tf.reduce_sum(x))


@functools.lru_cache(maxsize=512)
def _conv_functions(
    kernel_shape: tuple[int, int, int, int],
    input_hw: tuple[int, int],
    pads: Pads,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    block: int | None,
    xla: bool,
    groups: int = 1,
) -> types.SimpleNamespace:
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
    kh, kw, ci, co = kernel_shape
    g, fg = groups, co // groups
    sh, sw = strides
    dh, dw = dilation
    h, w = input_hw
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    ho = output_length(hp, ekh, 0, sh)
    wo = output_length(wp, ekw, 0, sw)
    if g > 1:
        block = 1
    block = choose_block(kernel_shape, wo, sw) if block is None else min(block, wo)
    n_tiles = -(-wo // block)
    tile_w = (block - 1) * sw + ekw
    depth = kh * tile_w * ci if block > 1 else kh * kw * ci
    place = _placement(kw, sw, dw, block) if block > 1 else None
    exact = (
        _conv_functions(kernel_shape, input_hw, pads, strides, dilation, 1, xla)
        if place is not None
        else None
    )
    pointwise = (kh, kw, strides, pads) == (1, 1, (1, 1), ((0, 0), (0, 0)))
    rows = _taps(ho, sh, kh, dh)  # (Ho, kh) input rows of each output row
    if block > 1:
        # Two gathers: tile columns (C-vectors), then tile rows (runs of
        # tile_w*C values). Fewer, longer copies than one gather of every
        # C-vector: LeNet conv2 1.5 -> 0.9 ms (training, single thread), and
        # conv1's TFLite GATHERs 12.7 -> 4.4 us for one image. The last tile's
        # columns past the edge are clamped onto it: their outputs are cut
        # and their output gradients are zero, so what they read never matters.
        columns = np.minimum(_taps(n_tiles, block * sw, tile_w, 1), wp - 1).reshape(-1)
        # (Ho*tiles*kh,) into the (Hp*tiles) rows of tiles the first gather makes
        tile_rows = (rows[:, None, :] * n_tiles + np.arange(n_tiles)[None, :, None]).reshape(-1)
    else:
        cols = _taps(wo, sw, kw, dw)  # (Wo, kw)
        index = (rows[:, None, :, None] * wp + cols[None, :, None, :]).reshape(-1)

    def to_groups(x):
        if g == 1:
            return x
        x = tf.reshape(x, [-1, h, w, g, ci])  # (N, H, W, G, C/G)
        return tf.reshape(tf.transpose(x, [3, 0, 1, 2, 4]), [-1, h, w, ci])  # (G*N, H, W, C/G)

    def from_groups(d_x):
        if g == 1:
            return d_x
        d_x = tf.reshape(d_x, [g, -1, h, w, ci])  # (G, N, H, W, C/G)
        return tf.reshape(tf.transpose(d_x, [1, 2, 3, 0, 4]), [-1, h, w, g * ci])  # (N, H, W, C)

    def banded(kernel):
        if g > 1:
            return tf.transpose(tf.reshape(kernel, [depth, g, fg]), [1, 0, 2])  # (G, depth, F/G)
        if place is None:
            return tf.reshape(kernel, [depth, co])  # (kh*kw*C, F)
        band = tf.einsum("ujv,ijcf->iucvf", tf.constant(place, kernel.dtype), kernel)
        return tf.reshape(band, [depth, block * co])  # (kh*tile_w*C, block*F)

    def gather_columns(xp):
        return tf.gather(xp, _positions(columns), axis=2)  # (N, Hp, tiles*tile_w, C)

    def gather_pixels(xp):
        pixels = tf.reshape(xp, [-1, hp * wp, ci])  # (N, Hp*Wp, C)
        return tf.gather(pixels, _positions(index), axis=1)  # (N, Ho*Wo*kh*kw, C)

    # Where each gathered vector is a few bytes (one pixel's channels, or the
    # first stage's columns), TensorFlow's gather kernel is slow per element
    # and XLA's wins: LeNet conv1 7.5 vs 1.3 ms, the first stage of conv2 1.2
    # vs 0.9 ms (single thread). On long runs TensorFlow's wins: a second
    # stage under XLA made conv2's forward pass 3x slower, and one gather of
    # 16-channel vectors takes 2.6 ms in TensorFlow vs 5.7 under XLA.
    if xla:
        gather_columns = tf.function(gather_columns, jit_compile=True, autograph=False)
        if ci < 4:
            gather_pixels = tf.function(gather_pixels, jit_compile=True, autograph=False)

    def gather(x):
        # Gathers of whole C-vectors build every tile, faster than strided
        # slices + concatenation, which copy C values at a time once per kernel
        # offset and again per concatenation (16 channels, 3x3, batch 256,
        # one thread: 2.1 vs 8.8 ms).
        xp = _pad(x, pads)
        if block > 1:
            cols = tf.reshape(gather_columns(xp), [-1, hp * n_tiles, tile_w * ci])
            tiles = tf.gather(cols, _positions(tile_rows), axis=1)  # (N, Ho*tiles*kh, tile_w*C)
        else:
            tiles = gather_pixels(xp)
        return tf.reshape(tiles, [-1, depth])  # (N*Ho*tiles, depth)

    def windows(x):
        xg = to_groups(x)
        flat = tf.reshape(xg, [-1, depth]) if pointwise else gather(xg)  # (G*N*Ho*tiles, depth)
        return flat if g == 1 else tf.reshape(flat, [g, -1, depth])  # (G, N*Ho*Wo, depth)

    def banded_forward(flat, kernel, bias):
        y = tf.matmul(flat, banded(kernel))  # (N*Ho*tiles, block*F) or (G, N*Ho*Wo, F/G)
        if g > 1:
            y = tf.reshape(tf.transpose(y, [1, 0, 2]), [-1, co])  # (N*Ho*Wo, F)
        if bias is not None:
            # On the matmul's 2-D output, where oneDNN fuses it into the
            # matmul; a broadcast add after the reshape is a separate pass.
            y = tf.nn.bias_add(y, tf.tile(bias, [block]) if block > 1 else bias)
        # -1, not a dynamic batch size: in TFLite that would be SHAPE and
        # slicing ops, which split XNNPACK's partitions.
        y = tf.reshape(y, [-1, ho, n_tiles * block, co])  # (N, Ho, tiles*block, F)
        return y if n_tiles * block == wo else y[:, :, :wo]

    def forward(x, kernel, bias=None):
        flat = windows(x)
        y = banded_forward(flat, kernel, bias)
        if exact is not None and not _EXPORT_GRAPH:
            y = tf.cond(
                tf.logical_and(_finite_sum(x), _all_finite(kernel)),
                lambda: y,
                lambda: exact.forward(x, kernel, bias)[0],
            )
        return y, flat

    def pad_dy(dy):
        if g > 1:
            return tf.transpose(tf.reshape(dy, [-1, g, fg]), [1, 0, 2])  # (G, N*Ho*Wo, F/G)
        if n_tiles * block == wo:
            return tf.reshape(dy, [-1, block * co])  # (N*Ho*tiles, block*F)
        dy = tf.pad(dy, [[0, 0], [0, 0], [0, n_tiles * block - wo], [0, 0]])
        return tf.reshape(dy, [-1, block * co])  # (N*Ho*tiles, block*F)

    # Two functions, not one, so that an unused input gradient (the first
    # layer's) is pruned from the graph instead of computed.
    def kernel_grad(dy, flat, x):
        d_band = tf.matmul(flat, pad_dy(dy), transpose_a=True)  # (depth, block*F)
        if g > 1:
            return tf.reshape(tf.transpose(d_band, [1, 0, 2]), [kh, kw, ci, co])
        if place is None:
            return tf.reshape(d_band, [kh, kw, ci, co])
        d_kernel = fold(d_band)
        if exact is None or _EXPORT_GRAPH:
            return d_kernel
        # A non-finite window cell or output gradient makes `d_band` non-finite
        # (NaN * 0 is NaN), so this small check stands for one over both.
        return tf.cond(
            _all_finite(d_band),
            lambda: d_kernel,
            lambda: exact.kernel_grad(dy, exact.windows(x), x),
        )

    def fold(d_band):
        d_band = tf.reshape(d_band, [kh, tile_w, ci, block, co])
        return tf.einsum("ujv,iucvf->ijcf", tf.constant(place, d_band.dtype), d_band)

    def bias_grad(dy):
        if g > 1:
            return tf.reduce_sum(tf.reshape(dy, [-1, co]), 0)
        # BiasAddGrad on the 2-D (banded) gradient: a reduction over a few
        # wide columns, ~3x faster than summing the 4-D gradient (LeNet conv1).
        d_bias = tf.raw_ops.BiasAddGrad(out_backprop=pad_dy(dy))  # (block*F,)
        return d_bias if block == 1 else tf.reduce_sum(tf.reshape(d_bias, [block, co]), 0)

    def scatter(d_tiles):
        if block == 1:
            d_x = col2im(d_tiles, (hp, wp), (kh, kw), strides, dilation)
        else:
            d_x = col2im(d_tiles, (hp, wp), (kh, tile_w), (sh, block * sw), (dh, 1))
        (top, _), (left, _) = pads
        return d_x[:, top : top + h, left : left + w]  # (N, H, W, C): padding cut

    if xla:
        # XLA fuses col2im's pads and adds into one pass; TensorFlow would
        # materialise every padded view.
        scatter = tf.function(scatter, jit_compile=True, autograph=False)

    def banded_input_grad(dy, kernel):
        n = tf.shape(dy)[0] * g
        d_tiles = tf.matmul(pad_dy(dy), banded(kernel), transpose_b=True)  # (.., depth)
        d_tiles = tf.reshape(d_tiles, [n, ho, n_tiles, depth])  # (G*N, Ho, tiles, depth)
        return from_groups(d_tiles if pointwise else scatter(d_tiles))

    def input_grad(dy, kernel):
        d_x = banded_input_grad(dy, kernel)
        if exact is None or _EXPORT_GRAPH:
            return d_x
        # The column sums of `dy` are non-finite if any of it is; they are the
        # bias gradient, so with a bias the check costs nothing (one graph node).
        dy_sums = tf.raw_ops.BiasAddGrad(out_backprop=pad_dy(dy))
        return tf.cond(
            _all_finite(dy_sums, kernel), lambda: d_x, lambda: exact.input_grad(dy, kernel)
        )

    return types.SimpleNamespace(
        forward=forward,
        windows=windows,
        kernel_grad=kernel_grad,
        input_grad=input_grad,
        bias_grad=bias_grad,
    )


@functools.lru_cache(maxsize=512)
def _depthwise_functions(
    kernel_shape: tuple[int, int, int, int],
    input_hw: tuple[int, int],
    pads: Pads,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    xla: bool,
) -> tuple[Any, Any]:
    """Forward and backward of a depthwise convolution (groups = input channels).

    Each kernel offset is one strided view of the padded input, multiplied by
    that offset's per-channel weights and added up: `kh*kw` elementwise ops,
    which XLA fuses into one pass, instead of a gather of windows and a matmul
    whose rows would be one channel long. The backward pass is explicit: the
    kernel gradient sums each view times the output gradient, the input
    gradient pads each offset's share back into place and adds them. Output
    channel `c*m + k` is channel `c`'s `k`-th filter (`m = F/C`), Keras's order.
    """
    kh, kw = kernel_shape[:2]
    (sh, sw), (dh, dw) = strides, dilation
    hp, wp = input_hw[0] + sum(pads[0]), input_hw[1] + sum(pads[1])
    ho = output_length(hp, (kh - 1) * dh + 1, 0, sh)
    wo = output_length(wp, (kw - 1) * dw + 1, 0, sw)

    (top, _), (left, _) = pads
    h, w = input_hw
    span_h, span_w = (ho - 1) * sh + 1, (wo - 1) * sw + 1

    def forward(x, kernel):
        return _depthwise_sum(_pad(x, pads), kernel, (sh, sw), (dh, dw), (ho, wo))

    def views(x):
        xp = _pad(x, pads)
        for i in range(kh):
            for j in range(kw):
                r, q = i * dh, j * dw
                yield xp[:, r : r + span_h : sh, q : q + span_w : sw]  # (N, Ho, Wo, C)

    def input_grad(dy, kernel, x):
        # The transpose of `forward`, written like it: the output gradient,
        # spread out by the strides and padded by the window's extent, read
        # through one view per offset (flipped) and multiplied and added. XLA
        # fuses that into one pass; autodiff's or a scatter's pads and adds
        # measured several times slower.
        c = x.shape[3]  # only its shape is used
        m = kernel.shape[3] // c
        dyd = _dilate(dy, (sh, sw))  # (N, span_h, span_w, C*m)
        ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        padded = tf.pad(
            dyd, [[0, 0], [ekh - 1, hp - span_h], [ekw - 1, wp - span_w], [0, 0]]
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
        return d_xp[:, top : top + h, left : left + w]  # (N, H, W, C)

    def kernel_grad(dy, x):
        c = x.shape[3]
        m = dy.shape[3] // c
        dy = tf.reshape(dy, [-1, c, m])  # (N*Ho*Wo, C, m)
        ones = tf.ones([1, tf.shape(dy)[0]], dy.dtype)
        d_weights = []
        for view in views(x):
            product = tf.reshape(tf.reshape(view, [-1, c, 1]) * dy, [-1, c * m])
            # The column sum as a matmul by ones: oneDNN's is several times
            # faster than a reduction over the leading axis (TensorFlow's or XLA's).
            d_weights.append(tf.matmul(ones, product))  # (1, C*m)
        return tf.reshape(tf.stack(d_weights), [kh, kw, 1, c * m])

    forward, input_grad = _xla_if(xla, forward, input_grad)

    def backward(dy, x, kernel):
        return input_grad(dy, kernel, x), kernel_grad(dy, x)

    return forward, backward


def _depthwise_sum(
    xp: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[Any, Any],
) -> tf.Tensor:
    """Depthwise correlation of padded NHWC `xp` by offset views (see `_depthwise_functions`).

    `out_hw` may hold tensors (the dynamic path).
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
    group) sum offset views (`_depthwise_functions`), other grouped ones
    gather every group's windows and run one batched matmul.

    The backward pass is explicit so that autodiff never walks through the
    gather: the kernel gradient is one matmul against the saved tiles (folded
    back through the band), the input gradient one matmul into tile space
    followed by `col2im`, the transpose of the tile gather, and the bias
    gradient a column sum. They are separate functions so that a gradient
    nobody asks for (the first layer's input gradient) is pruned. With
    `XLA_CORE`, the gather of few-channel inputs and `col2im` are
    XLA-compiled, where they measured faster than TensorFlow's kernels.

    Static shapes only: the index tables are built per shape and cached
    (`_conv_functions`), so each distinct input size is traced once; see
    `conv2d` for unknown sizes.
    """
    input_hw = (x.shape[1], x.shape[2])
    if groups > 1 and kernel.shape[2] == 1:
        forward, backward = _depthwise_functions(
            tuple(kernel.shape), input_hw, pads, tuple(strides), tuple(dilation), XLA_CORE
        )

        @tf.custom_gradient
        def _depthwise(x, kernel):
            return forward(x, kernel), lambda dy: backward(dy, x, kernel)

        y = _depthwise(x, kernel)
        return y if bias is None else tf.nn.bias_add(y, bias)

    if (groups, block) == (1, None) and winograd_eligible(
        kernel.shape, strides, dilation, _out_hw(x, pads)
    ):
        return _winograd_or_exact(x, kernel, bias, pads)

    fns = _conv_functions(
        tuple(kernel.shape),
        input_hw,
        pads,
        tuple(strides),
        tuple(dilation),
        block,
        XLA_CORE,
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


def _dynamic_pads(n: Any, k: int, s: int, padding: str | Pads, axis: int) -> tuple[Any, Any]:
    """`resolve_padding` for one axis whose length `n` may be a tensor."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = tf.maximum(((n + s - 1) // s - 1) * s + k - n, 0)
        return total // 2, total - total // 2
    return padding[axis]  # type: ignore[index]


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
    c = x.shape[3]
    (sh, sw), (dh, dw) = strides, dilation
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    shape = tf.shape(x)
    h = x.shape[1] if x.shape[1] is not None else shape[1]
    w = x.shape[2] if x.shape[2] is not None else shape[2]
    top, bottom = _dynamic_pads(h, ekh, sh, padding, 0)
    left, right = _dynamic_pads(w, ekw, sw, padding, 1)
    xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    ho = (h + top + bottom - ekh) // sh + 1
    wo = (w + left + right - ekw) // sw + 1
    if groups > 1 and cg == 1:
        y = _depthwise_sum(xp, kernel, (sh, sw), (dh, dw), (ho, wo))
        return y if bias is None else tf.nn.bias_add(y, bias)
    views = [
        xp[:, i * dh : i * dh + (ho - 1) * sh + 1 : sh, j * dw : j * dw + (wo - 1) * sw + 1 : sw]
        for i in range(kh)
        for j in range(kw)
    ]
    flat = tf.concat(views, axis=-1) if len(views) > 1 else views[0]  # (N, Ho, Wo, kh*kw*C)
    out_shape = tf.concat([tf.shape(flat)[:3], [co]], 0)
    if groups == 1:
        y = tf.matmul(tf.reshape(flat, [-1, kh * kw * c]), tf.reshape(kernel, [-1, co]))
    else:
        fg = co // groups
        flat = tf.reshape(flat, [-1, kh * kw, groups, cg])  # (N*Ho*Wo, kh*kw, G, C/G)
        flat = tf.reshape(tf.transpose(flat, [2, 0, 1, 3]), [groups, -1, kh * kw * cg])
        k = tf.transpose(tf.reshape(kernel, [kh * kw * cg, groups, fg]), [1, 0, 2])
        y = tf.matmul(flat, k)  # (G, N*Ho*Wo, F/G)
        y = tf.reshape(tf.transpose(y, [1, 0, 2]), [-1, co])  # (N*Ho*Wo, F)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return tf.reshape(y, out_shape)  # (N, Ho, Wo, F)


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


def _reduce_views(views: list[tf.Tensor], mode: str) -> tf.Tensor:
    """Sum (`"avg"`) or maximum of same-shape views, as a chain of binary ops.

    A chain, not `add_n` or a reduction: in TFLite it is ADD/MAXIMUM, which
    XNNPACK runs well in float and int8.
    """
    op = tf.add if mode == "avg" else tf.maximum
    out = views[0]
    for v in views[1:]:
        out = op(out, v)
    return out


def _max_clean(x: tf.Tensor) -> tf.Tensor:
    """NaN as -inf: Keras's (TensorFlow's CPU) max pool never lets a NaN win.

    `x == x`, not `is_nan`: EQUAL and SELECT are TFLite builtins.
    """
    if not x.dtype.is_floating:
        return x
    return tf.where(tf.equal(x, x), x, tf.constant(-np.inf, x.dtype))


def _keras_max(views: list[tf.Tensor]) -> tf.Tensor:
    """`_max_floor` of the NaN-free maximum of `views`, in one pass of compare and select.

    Each step keeps the running value unless a view is strictly greater, as
    TensorFlow's CPU kernel scans a window; starting from the floor, a NaN
    never enters.
    """
    dtype = views[0].dtype
    if not dtype.is_floating:
        return _reduce_views(views, "max")
    floor = dtype.min if dtype in (tf.float32, tf.float64) else -np.inf
    out = tf.constant(floor, dtype)
    for v in views:
        out = tf.where(v > out, v, out)
    return out


def _max_floor(y: tf.Tensor) -> tf.Tensor:
    """TensorFlow's CPU max pool starts each float32/float64 window at the dtype's
    lowest finite value, so a window of only -inf and NaN gives that value; its
    16-bit kernels start at -inf."""
    if y.dtype in (tf.float32, tf.float64):
        return tf.maximum(y, tf.constant(y.dtype.min, y.dtype))
    return y


def _pool_fill(dtype: tf.DType, mode: str) -> Any:
    """What padding holds: never a window's maximum, nothing in a sum."""
    if mode == "avg":
        return 0
    # -inf so that a real -inf cell still counts as the first real cell (`_split_first`).
    return -np.inf if dtype.is_floating and mode == "max" else dtype.min


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
    if mode not in ("max", "avg"):
        raise ValueError(f"`mode` must be 'max' or 'avg'. Received: mode={mode!r}")
    if mode == "max" and _EXPORT_GRAPH:
        mode = "plain_max"  # see `export_graph`
    if data_format == "channels_first":
        y = pool2d(tf.transpose(x, [0, 2, 3, 1]), pool_hw, strides, padding, mode)
        return tf.transpose(y, [0, 3, 1, 2])  # (N, C, Ho, Wo)
    (kh, kw), (sh, sw) = pool_hw, strides
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    if h is None or w is None or c is None:
        return _pool_dynamic(x, pool_hw, strides, padding, mode)
    pads = resolve_padding(padding, (h, w), pool_hw, strides)
    ho = output_length(h, kh, sum(pads[0]), sh)
    wo = output_length(w, kw, sum(pads[1]), sw)
    xp = _pad(x, pads, _pool_fill(x.dtype, mode))

    # Tiled only with no padding before: the max pool gradient's first-cell rule (see
    # `_split_first`) needs each window's first real cell, which is then its first cell.
    if (sh, sw) == (kh, kw) and pads[0][0] == pads[1][0] == 0:
        if xp.shape[1:3] != (ho * kh, wo * kw):
            xp = _crop(xp, (ho * kh, wo * kw))  # the ragged edge no window covers
        y = _pool_tiled(xp, pool_hw, mode)
    else:
        forward, backward = _pool_functions(
            pool_hw, strides, (ho, wo), (xp.shape[1], xp.shape[2]), mode, XLA_CORE, pads
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
    kernel: MNIST convnet's 2x2 max pool on 11x11x64, batch 128, spent
    several times the whole pool's time in it (docs/bench/zoo.md).
    """
    h, w = hw
    extra = [[0, 0], [0, x.shape[1] - h], [0, x.shape[2] - w], [0, 0]]

    @tf.custom_gradient
    def crop(x):
        return x[:, :h, :w], lambda dy: tf.pad(dy, extra)

    return crop(x)


@functools.lru_cache(maxsize=512)
def _pool_functions(
    pool_hw: tuple[int, int],
    strides: tuple[int, int],
    out_hw: tuple[int, int],
    padded_hw: tuple[int, int],
    mode: str,
    xla: bool,
    pads: Pads | None = None,
) -> tuple[Any, Any]:
    """Forward and backward of pooling over any windows (cached like `_conv_functions`).

    The forward pass is separable: a reduction over the `kw` strided column
    views, then over the `kh` row views. The backward pass routes each
    output's gradient to the views that produced it (all of them for a sum,
    the first maximum for max) and scatters the views back, the transpose of
    the gather; autodiff through the strided slices would cost ~20x more.
    """
    (kh, kw), (sh, sw), (ho, wo), (hp, wp) = pool_hw, strides, out_hw, padded_hw
    pads = pads or ((0, 0), (0, 0))

    def stages(xp, forward=False):
        reduce = functools.partial(_reduce_views, mode=mode)
        if mode == "max" and forward:
            reduce = _keras_max
        elif mode == "max":
            xp = _max_clean(xp)
        cols = _windows(xp, kw, sw, 1, wo, axis=2)  # kw x (N, Hp, Wo, C)
        mid = reduce(cols)
        rows = _windows(mid, kh, sh, 1, ho, axis=1)  # kh x (N, Ho, Wo, C)
        return cols, mid, rows, reduce(rows)

    def forward(xp):
        return stages(xp, forward=True)[3]

    # Window t's first real (unpadded) cell is view i0[t] of its rows / j0 of its columns.
    (top, _), (left, _) = pads
    i0, j0 = np.maximum(top - np.arange(ho) * sh, 0), np.maximum(left - np.arange(wo) * sw, 0)

    def backward(dy, xp):
        cols, mid, rows, y = stages(xp)
        if mode == "avg":
            d_mid = _scatter_windows([dy] * kh, hp, sh, 1, axis=1)  # (N, Hp, Wo, C)
            return _scatter_windows([d_mid] * kw, wp, sw, 1, axis=2)  # (N, Hp, Wp, C)
        if top == left == 0:
            first = xp[:, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]
        else:
            first = tf.gather(xp, i0 + np.arange(ho) * sh, axis=1)
            first = tf.gather(first, j0 + np.arange(wo) * sw, axis=2)  # (N, Ho, Wo, C)
        dy, d_first = _split_first(dy, first, y) if mode == "max" else (dy, None)
        d_mid = _scatter_windows(_first_shares(rows, y, dy), hp, sh, 1, axis=1)
        d_cols = _first_shares(cols, mid, d_mid)
        if d_first is not None:
            rows_first = _pick_views(d_first, i0, axis=1)
            d_mid_first = _scatter_windows(rows_first, hp, sh, 1, axis=1)  # (N, Hp, Wo, C)
            for j, share in enumerate(_pick_views(d_mid_first, j0, axis=2)):
                d_cols[j] = d_cols[j] + share
        return _scatter_windows(d_cols, wp, sw, 1, axis=2)  # (N, Hp, Wp, C)

    return _xla_if(xla, forward, backward)


def _split_first(
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


def _pick_views(grad: tf.Tensor, index: np.ndarray, axis: int) -> list[tf.Tensor]:
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


def _xla_if(xla: bool, *functions: Any) -> tuple[Any, ...]:
    """`functions`, each XLA-compiled as one `tf.function` if `xla`."""
    if not xla:
        return functions
    return tuple(tf.function(f, jit_compile=True, autograph=False) for f in functions)


def _first_shares(
    views: list[tf.Tensor],
    best: tf.Tensor,
    grad: tf.Tensor,
    to_first: tf.Tensor | None = None,
) -> list[tf.Tensor]:
    """`grad` routed to the first of `views` equal to `best`, zeros to the others.

    Where `to_first` is true the first view takes it whatever its value.
    View by view rather than masks of a stack of them: XLA then fuses the
    comparisons into whatever consumes the shares instead of writing a stack
    out (3x3/2 max pool on [64, 56, 56, 32], backward: 25.5 -> 15.3 ms).
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


@functools.lru_cache(maxsize=512)
def _tiled_pool_functions(
    pool_hw: tuple[int, int], out_w: int, channels: int, mode: str, xla: bool
) -> tuple[Any, Any]:
    """Forward and backward of a tiled max pool or window sum (cached like `_conv_functions`).

    Under XLA the two reductions and the gradient run 2-3x faster than
    TensorFlow's kernels, which reduce a short middle axis slowly (LeNet pool1
    forward+backward: 3.1 -> 1.2 ms, single thread). The gradients are
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
            # Windows do not overlap, so one mask serves both stages (see `_split_first`).
            first = tf.reshape(x[:, ::kh, ::kw], [-1, 1, wo * c])  # (N*Ho, 1, Wo*C)
            to_first = tf.logical_or(
                tf.not_equal(first, first), tf.equal(y[:, None], tf.constant(-np.inf, y.dtype))
            )
            row_first = tf.reshape(
                tf.broadcast_to(to_first, [tf.shape(dy)[0], kh, wo * c]), [-1, 1, c]
            )  # (N*H*Wo, 1, C)
        dz = tf.concat(_first_shares(row_parts, y[:, None], dy, to_first), axis=1)
        dz = tf.reshape(dz, [-1, 1, c])  # (N*Ho*kh*Wo, 1, C)
        dx = tf.concat(_first_shares(col_parts, z[:, None], dz, row_first), axis=1)
        return tf.reshape(dx, tf.shape(x))  # (N*H*Wo, kw, C) back to x's shape

    return _xla_if(xla, forward, backward)


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
    REDUCE_SUM over such a short axis is slow in XNNPACK (int8 LeNet pool1:
    13 vs 2 us).
    """
    (kh, kw), c = pool_hw, channels

    def split(v):
        return tf.split(v, v.shape[1], axis=1) if v.shape[1] > 1 else [v]

    reduce = functools.partial(_reduce_views, mode=mode)
    if mode == "max" and forward:
        reduce = _keras_max  # the forward value: floored, NaN never wins
    elif mode == "max":
        x = _max_clean(x)  # the backward pass compares to the NaN-free maximum
    col_parts = split(tf.reshape(x, [-1, kw, c]))  # kw x (N*H*Wo, 1, C)
    z = tf.reshape(reduce(col_parts), [-1, c])  # (N*H*Wo, C)
    row_parts = split(tf.reshape(z, [-1, kh, out_w * c]))  # kh x (N*Ho, 1, Wo*C)
    y = tf.reshape(reduce(row_parts), [-1, out_w * c])  # (N*Ho, Wo*C)
    return col_parts, z, row_parts, y


def _pool_tiled(x: tf.Tensor, pool_hw: tuple[int, int], mode: str) -> tf.Tensor:
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
    forward, backward = _tiled_pool_functions(tuple(pool_hw), wo, c, mode, XLA_CORE)

    @tf.custom_gradient
    def _pool(x):
        return tf.reshape(forward(x), [-1, ho, wo, c]), lambda dy: backward(dy, x)

    return _pool(x)


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


def _pool_dynamic(
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
    (kh, kw), (sh, sw) = pool_hw, strides
    shape = tf.shape(x)
    h, w = shape[1], shape[2]
    if padding != "same":
        padding = resolve_padding(padding, (0, 0), pool_hw, strides)
    top, bottom = _dynamic_pads(h, kh, sh, padding, 0)
    left, right = _dynamic_pads(w, kw, sw, padding, 1)
    ho = (h + top + bottom - kh) // sh + 1
    wo = (w + left + right - kw) // sw + 1
    # The most cells any window has before the image: TensorFlow's SAME puts
    # at most (k - 1) // 2 there.
    most_top, most_left = ((kh - 1) // 2, (kw - 1) // 2) if padding == "same" else (top, left)
    check = tf.debugging.assert_positive(
        tf.minimum(ho, wo),
        message=f"The pooling window {tuple(pool_hw)} is larger than the (padded) input",
    )
    with tf.control_dependencies([check]):
        xp = tf.pad(
            x,
            [[0, 0], [top, bottom], [left, right], [0, 0]],
            constant_values=_pool_fill(x.dtype, mode),
        )

    def col_views(v, count=kw):  # count x (N, Hp, Wo, C)
        return [v[:, :, j : j + (wo - 1) * sw + 1 : sw] for j in range(count)]

    def row_views(v, count=kh):  # count x (N, Ho, Wo, C)
        return [v[:, i : i + (ho - 1) * sh + 1 : sh] for i in range(count)]

    def scatter(views, target, grads):
        """Sum of `grads` placed where `views(target)` read them: the views' transpose."""
        with tf.GradientTape() as tape:
            tape.watch(target)
            read = views(target, len(grads))
        return tape.gradient(read, target, output_gradients=grads)

    def stages(xp):
        cols = col_views(_max_clean(xp) if mode == "max" else xp)
        mid = _reduce_views(cols, mode)
        rows = row_views(mid)
        return cols, mid, rows, _reduce_views(rows, mode)

    @tf.custom_gradient
    def _pool(xp):
        cols, mid, rows, y = stages(xp)

        def backward(dy):
            if mode == "avg":
                d_mid = scatter(row_views, mid, [dy] * kh)
                return scatter(col_views, xp, [d_mid] * kw)
            n_out = [tf.range(ho), tf.range(wo)]
            i0 = tf.maximum(top - n_out[0] * sh, 0)
            j0 = tf.maximum(left - n_out[1] * sw, 0)
            first = tf.gather(
                tf.gather(xp, i0 + n_out[0] * sh, axis=1), j0 + n_out[1] * sw, axis=2
            )
            dy, d_first = _split_first(dy, first, y) if mode == "max" else (dy, None)
            d_mid = scatter(row_views, mid, _first_shares(rows, y, dy))
            d_cols = _first_shares(cols, mid, d_mid)
            if d_first is not None:
                zero = tf.zeros_like(dy)
                picks = [tf.where(tf.equal(i0, i)[None, :, None, None], d_first, zero)
                         for i in range(most_top + 1)]  # fmt: skip
                d_mid_first = scatter(row_views, mid, picks)
                for j in range(most_left + 1):
                    pick = tf.equal(j0, j)[None, None, :, None]
                    d_cols[j] = d_cols[j] + tf.where(pick, d_mid_first, tf.zeros_like(d_mid))
            return scatter(col_views, xp, d_cols)

        return (_max_floor(y) if mode == "max" else y), backward

    y = _pool(xp)
    if mode != "avg":
        return y
    if padding == "same":

        def counts(n, k, s, before, n_out):
            start = tf.range(n_out) * s - before
            return tf.minimum(start + k, n) - tf.maximum(start, 0)

        per_h, per_w = counts(h, kh, sh, top, ho), counts(w, kw, sw, left, wo)
        return y / tf.cast(per_h[:, None] * per_w[None, :], y.dtype)[None, :, :, None]
    return y / tf.cast(kh * kw, y.dtype)


# --------------------------------------------------------------------------
# Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions
# --------------------------------------------------------------------------

# Y = A^T [(G g G^T) * (B^T d B)] A per 4x4 input tile d and 2x2 output tile
# (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks").
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
    waste little. Measured forward+backward, one thread (docs/bench/zoo.md):
    a clear win from 32 channels on 16x16 outputs; at 16 channels, or 32
    channels on 11x11 outputs, im2col was faster.
    """
    kh, kw, ci, co = kernel_shape
    return (
        WINOGRAD
        and (kh, kw) == (3, 3)
        and tuple(strides) == (1, 1)
        and tuple(dilation) == (1, 1)
        and min(ci, co) >= WINOGRAD_MIN_CHANNELS
        and None not in output_hw
        and min(output_hw) >= WINOGRAD_MIN_OUTPUT  # type: ignore[type-var]
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


def _out_hw(x: tf.Tensor, pads: Pads) -> tuple[int | None, int | None]:
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


@functools.lru_cache(maxsize=512)
def _winograd_functions(
    kernel_shape: tuple[int, int, int, int], input_hw: tuple[int, int], pads: Pads
) -> tuple[Any, Any, Any, Any, Any]:
    """Forward and gradient functions of a 3x3 stride-1 conv by Winograd F(2x2, 3x3).

    `(forward, transformed_grad, kernel_grad, input_grad, bias_grad)`: the
    forward returns the transformed input tiles too (the kernel gradient's
    operand), and both weight and input gradients take the transformed
    output gradient. Each 4x4 input tile
    (tiles overlap by 2) becomes 16 transformed values by adds and
    subtractions, the 16 tile positions are 16 matmuls over channels (2.25x
    fewer multiplications than im2col's), and the output transform adds them
    back to 2x2 outputs. Everything is XLA-compiled: the transforms are
    elementwise over strided slices, each one fused pass. The 16 transformed
    tensors stay separate (a stack of them made XLA's fused pass twice as
    slow). The gradients are the transposed transforms and matmuls, explicit.

    A pixel enters only the transformed values of the outputs whose windows
    hold it (F(2x2, 3x3)'s transforms are that sparse; larger tiles' are
    not), so a NaN reaches exactly those outputs, as in Keras, and a NaN of
    the output gradient exactly the input gradients whose windows hold it.
    An infinite value, though, meets both signs of the transforms (inf - inf)
    and gives NaN where a direct sum gives +-inf: `_winograd_or_exact` sends
    non-finite inputs and kernels to im2col; an infinite output gradient
    still gives NaN where Keras gives +-inf.
    """
    _, _, ci, co = kernel_shape
    h, w = input_hw
    hp, wp = h + sum(pads[0]), w + sum(pads[1])
    ho, wo = hp - 2, wp - 2
    ty, tx = -(-ho // 2), -(-wo // 2)
    # Tiles past an odd edge read zeros; their outputs are cut.
    (top, bottom), (left, right) = pads
    full_pads = ((top, bottom + 2 * ty + 2 - hp), (left, right + 2 * tx + 2 - wp))

    def transformed_input(x):
        xq = _pad(x, full_pads)  # (N, 2Ty+2, 2Tx+2, C)
        rows = _bt_rows([xq[:, i : i + 2 * ty : 2] for i in range(4)])  # 4 x (N, Ty, Wq, C)
        v = [t for r in rows for t in _bt_rows([r[:, :, j : j + 2 * tx : 2] for j in range(4)])]
        return [tf.reshape(t, [-1, ci]) for t in v]  # 16 x (N*Ty*Tx, C), a-major

    def transformed_kernel(kernel):
        # G k G^T as two matmuls, not an einsum: TFLite has no builtin EINSUM.
        gk = tf.constant(_WINO_G, kernel.dtype)
        k = tf.reshape(kernel, [3, 3 * ci * co])  # (i, j*C*F)
        k = tf.reshape(tf.matmul(gk, k), [4, 3, ci * co])  # (a, j, C*F)
        k = tf.reshape(tf.transpose(k, [1, 0, 2]), [3, 4 * ci * co])  # (j, a*C*F)
        u = tf.matmul(gk, k)  # (b, a*C*F)
        u = tf.transpose(tf.reshape(u, [4, 4, ci, co]), [1, 0, 2, 3])  # (a, b, C, F)
        return tf.unstack(tf.reshape(u, [16, ci, co]))

    def forward(x, kernel, bias=None):
        v = transformed_input(x)
        m = [
            tf.reshape(tf.matmul(a, b), [-1, ty, tx, co])
            for a, b in zip(v, transformed_kernel(kernel), strict=True)
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

    def transformed_grad(dy):
        dy = tf.pad(dy, [[0, 0], [0, 2 * ty - ho], [0, 2 * tx - wo], [0, 0]])
        dy = tf.reshape(dy, [-1, ty, 2, tx, 2, co])  # (N, Ty, 2, Tx, 2, F)
        rows = _a_rows([dy[:, :, u] for u in range(2)])  # 4 x (N, Ty, Tx, 2, F)
        dm = [t for r in rows for t in _a_rows([r[:, :, :, v] for v in range(2)])]
        return tuple(tf.reshape(t, [-1, co]) for t in dm)  # 16 x (N*Ty*Tx, F)

    def kernel_grad(dm, v):
        # Outside XLA: its dot of two tall matrices over their long axis ran
        # slower than TensorFlow's matmul kernel.
        du = tf.stack([tf.matmul(a, b, transpose_a=True) for a, b in zip(v, dm, strict=True)])
        gk = tf.constant(_WINO_G, du.dtype)
        return tf.einsum("ai,abcf,bj->ijcf", gk, tf.reshape(du, [4, 4, ci, co]), gk)

    def input_grad(dm, kernel):
        u = transformed_kernel(kernel)
        dv = [
            tf.reshape(tf.matmul(a, b, transpose_b=True), [-1, ty, tx, ci])
            for a, b in zip(dm, u, strict=True)
        ]
        rows = []
        for parts in _b_rows([dv[4 * a : 4 * a + 4] for a in range(4)]):  # 4 x 4 x (N, Ty, Tx, C)
            rows.append(_overlap_add(_b_rows(parts), axis=2))  # (N, Ty, 2Tx+2, C)
        dxq = _overlap_add(rows, axis=1)  # (N, 2Ty+2, 2Tx+2, C)
        return dxq[:, top : top + h, left : left + w]

    def bias_grad(dy):
        return tf.raw_ops.BiasAddGrad(out_backprop=tf.reshape(dy, [-1, co]))

    forward, transformed_grad, input_grad = _xla_if(True, forward, transformed_grad, input_grad)
    return forward, transformed_grad, kernel_grad, input_grad, bias_grad


def _winograd_or_exact(
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
    if _EXPORT_GRAPH:
        return _winograd_conv(x, kernel, bias, pads)
    return tf.cond(
        tf.logical_and(_finite_sum(x), _all_finite(kernel)),
        lambda: _winograd_conv(x, kernel, bias, pads),
        lambda: conv2d_valid(x, kernel, block=1, bias=bias, pads=pads),
    )


def _winograd_conv(
    x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | None, pads: Pads
) -> tf.Tensor:
    """`conv2d_valid` of a `winograd_eligible` conv, with explicit gradients.

    The output gradient is transformed once and shared by the kernel and the
    input gradient; an unused input gradient (a model's first layer) is pruned.
    """
    forward, transformed_grad, kernel_grad, input_grad, bias_grad = _winograd_functions(
        tuple(kernel.shape), (x.shape[1], x.shape[2]), pads
    )

    def backward(dy, v):
        dm = transformed_grad(dy)
        return input_grad(dm, kernel), kernel_grad(dm, v)

    if bias is None:

        @tf.custom_gradient
        def _conv(x, kernel):
            y, v = forward(x, kernel)
            return y, lambda dy: backward(dy, v)

        return _conv(x, kernel)

    @tf.custom_gradient
    def _conv_bias(x, kernel, bias):
        y, v = forward(x, kernel, bias)
        return y, lambda dy: (*backward(dy, v), bias_grad(dy))

    return _conv_bias(x, kernel, bias)
