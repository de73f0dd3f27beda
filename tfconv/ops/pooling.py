"""The book's `pool2d`: max or average pooling of one image, with its stride and padding rules."""

from __future__ import annotations

import tensorflow as tf

from tfconv._core.pool import check_mode
from tfconv._core.pool import pool2d as core_pool2d
from tfconv._core.shapes import normalize_pair
from tfconv.ops.inputs import ArrayLike, as_tensor, result_dtype


def _window_args(
    pool_size: int | tuple[int, int],
    padding: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """`(pool_hw, strides, pad_hw)`, checked: padding smaller than the window."""
    pool_hw = normalize_pair(pool_size, "pool_size")
    strides = pool_hw if stride is None else normalize_pair(stride, "stride")
    pad_hw = normalize_pair(padding, "padding", minimum=0)
    if pad_hw[0] >= pool_hw[0] or pad_hw[1] >= pool_hw[1]:
        raise ValueError(
            f"`padding` must be smaller than `pool_size` {pool_hw} along both axes, so that "
            f"no window covers only padding. Received: padding={padding!r}"
        )
    return pool_hw, strides, pad_hw


def pool2d(
    X: ArrayLike,
    pool_size: int | tuple[int, int],
    mode: str = "max",
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] | None = 1,
) -> tf.Tensor:
    """Max or average pooling of a single- or multi-channel input.

    Channels are pooled independently. As in the book's `pool2d(X,
    pool_size, mode)`, the window slides one cell at a time over every
    position where it fits (stride 1, no padding) unless told otherwise. The
    book's framework layers (Gluon's `nn.MaxPool2D`, and `keras.layers`'s and
    `tfconv.layers`' `MaxPool2D`) default their stride to the window instead,
    so that windows do not overlap; `stride=None` does that here. Padding adds
    `p_h` rows above and below and `p_w` columns left and right; padded cells
    never win a maximum, while for the average they count as zeros (the
    divisor is always `k_h * k_w`). Padding must be smaller than the window so
    that every window sees at least one real cell.

    Args:
        X: Input array of shape `(h, w)` or `(c, h, w)`.
        pool_size: Window size, an int or `(k_h, k_w)`.
        mode: `"max"` or `"avg"`. Defaults to `"max"`.
        padding: Padding per side, an int or `(p_h, p_w)`. Defaults to 0.
        stride: An int or `(s_h, s_w)`. Defaults to 1, as in the book's
            function; `None` means `pool_size`, as in the framework layers.

    Returns:
        A `tf.Tensor` with the rank of `X`: `(h_o, w_o)` or `(c, h_o, w_o)`,
        where `h_o = (h - k_h + 2 p_h + s_h) // s_h` and likewise for `w_o`.

    Example:

    >>> X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    >>> pool2d(X, (2, 2)).numpy()
    array([[4., 5.],
           [7., 8.]], dtype=float32)
    >>> pool2d(X, (2, 2), "avg").numpy()
    array([[2., 3.],
           [5., 6.]], dtype=float32)
    >>> pool2d(np.arange(16).reshape(4, 4), 3, padding=1, stride=2).numpy()
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    check_mode(mode)
    pool_hw, strides, pad_hw = _window_args(pool_size, padding, stride)
    dtype = result_dtype(X)
    X = as_tensor(X, "X", dtype, (2, 3))
    squeeze = X.shape.rank == 2
    x = X[None, :, :, None] if squeeze else tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c)
    padded_hw = (x.shape[1] + 2 * pad_hw[0], x.shape[2] + 2 * pad_hw[1])
    if pool_hw[0] > padded_hw[0] or pool_hw[1] > padded_hw[1]:
        raise ValueError(
            f"`pool_size` {pool_hw} must fit inside the padded input {padded_hw}. "
            f"Received: pool_size={pool_size!r}, X.shape={tuple(X.shape.as_list())}"
        )
    pads = ((pad_hw[0], pad_hw[0]), (pad_hw[1], pad_hw[1]))
    y = core_pool2d(x, pool_hw, strides, pads, mode)  # (1, h_o, w_o, c)
    return y[0, :, :, 0] if squeeze else tf.transpose(y[0], [2, 0, 1])
