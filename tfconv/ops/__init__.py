"""The chapter's convolution and pooling operations as differentiable TF functions.

These functions use the book's channels-first shapes: a single-channel image is
`(h, w)`, a multi-channel image `(c, h, w)` and a multi-input, multi-output
kernel `(c_o, c_i, k_h, k_w)`. They are vectorised (no per-pixel Python loops)
and all go through `tfconv._core`, the same sliding-window core that the
layers use, so the book's worked examples and the layers agree by
construction. Inputs may be NumPy arrays, nested lists or tensors; results are
`tf.Tensor`s. Integer inputs are computed in `float32`; floating inputs keep
their dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from tfconv import _core

__all__ = [
    "ConvCost",
    "conv_cost",
    "conv_output_shape",
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "pool2d",
]

ArrayLike = Any


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _result_dtype(*arrays: ArrayLike) -> tf.DType:
    """The floating dtype the computation runs in.

    The widest floating dtype among the inputs; `float32` when none of them is
    floating (ints, bools, lists of ints) or when two 16-bit formats meet.
    """
    floats = []
    for a in arrays:
        if isinstance(a, (tf.Tensor, tf.Variable)):
            dtype = tf.as_dtype(a.dtype)
        elif isinstance(a, np.ndarray | np.generic):
            dtype = tf.as_dtype(a.dtype) if a.dtype.kind == "f" else None
        else:
            dtype = None  # Python scalars and lists: float32 by default.
        if dtype is not None and dtype.is_floating:
            floats.append(dtype)
    if not floats:
        return tf.float32
    widest = max(d.size for d in floats)
    candidates = {d for d in floats if d.size == widest}
    return candidates.pop() if len(candidates) == 1 else tf.float32


def _as_tensor(
    value: ArrayLike, name: str, dtype: tf.DType, rank: int | tuple[int, ...]
) -> tf.Tensor:
    """Converts `value` to a `dtype` tensor of the given rank(s), or raises."""
    try:
        if isinstance(value, (tf.Tensor, tf.Variable)):
            if not (value.dtype.is_floating or value.dtype.is_integer or value.dtype.is_bool):
                raise TypeError(f"unsupported dtype {value.dtype.name}")
            tensor = tf.cast(value, dtype)
        else:
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"unsupported dtype {array.dtype}")
            tensor = tf.constant(array.astype(dtype.as_numpy_dtype, copy=False))
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be a real-valued array or tensor ({err}). "
            f"Received: {name}={value!r:.200}"
        ) from None
    ranks = (rank,) if isinstance(rank, int) else rank
    if tensor.shape.rank not in ranks:
        wanted = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"`{name}` must be a {wanted} array. "
            f"Received: {name}.shape={tuple(tensor.shape.as_list())}"
        )
    if any(d is None for d in tensor.shape):
        raise ValueError(
            f"`{name}` needs a fully known static shape. "
            f"Received: {name}.shape={tuple(tensor.shape.as_list())}"
        )
    return tensor


def _check_fits(
    X: tf.Tensor, K: tf.Tensor, input_hw: tuple[int, int], kernel_hw: tuple[int, int]
) -> None:
    if min(kernel_hw) < 1:
        raise ValueError(
            f"The kernel `K` must be at least 1x1. Received: K.shape={tuple(K.shape.as_list())}"
        )
    if kernel_hw[0] > input_hw[0] or kernel_hw[1] > input_hw[1]:
        raise ValueError(
            f"The kernel `K` (window {tuple(kernel_hw)}) must fit inside the input `X` "
            f"(spatial size {tuple(input_hw)}). "
            f"Received: K.shape={tuple(K.shape.as_list())}, X.shape={tuple(X.shape.as_list())}"
        )


def _check_channels(X: tf.Tensor, K: tf.Tensor, x_axis: int, k_axis: int) -> None:
    if X.shape[x_axis] != K.shape[k_axis]:
        raise ValueError(
            f"`X` has {X.shape[x_axis]} input channels but `K` expects {K.shape[k_axis]}. "
            f"Received: X.shape={tuple(X.shape.as_list())}, K.shape={tuple(K.shape.as_list())}"
        )


# --------------------------------------------------------------------------
# Cross-correlation
# --------------------------------------------------------------------------


def corr2d(X: ArrayLike, K: ArrayLike) -> tf.Tensor:
    """Two-dimensional cross-correlation of one channel with one kernel.

    The kernel slides over every position where it fits completely inside
    `X` (no padding, stride 1); each output is the sum of the elementwise
    product of the kernel and the window under it.

    Args:
        X: Input array of shape `(h, w)`.
        K: Kernel array of shape `(k_h, k_w)`, no larger than `X`.

    Returns:
        A `tf.Tensor` of shape `(h - k_h + 1, w - k_w + 1)`.

    Example:

    >>> X = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    >>> corr2d(X, [[0, 1], [2, 3]]).numpy()
    array([[19., 25.],
           [37., 43.]], dtype=float32)
    """
    dtype = _result_dtype(X, K)
    X = _as_tensor(X, "X", dtype, 2)
    K = _as_tensor(K, "K", dtype, 2)
    _check_fits(X, K, tuple(X.shape), tuple(K.shape))
    y = _core.conv2d_valid(X[None, :, :, None], K[:, :, None, None])
    return y[0, :, :, 0]


def corr2d_multi_in(X: ArrayLike, K: ArrayLike) -> tf.Tensor:
    """Cross-correlation of a multi-channel input with a multi-channel kernel.

    Each input channel is correlated with its own kernel slice and the
    per-channel results are summed, giving a single output channel.

    Args:
        X: Input array of shape `(c_i, h, w)`.
        K: Kernel array of shape `(c_i, k_h, k_w)`.

    Returns:
        A `tf.Tensor` of shape `(h - k_h + 1, w - k_w + 1)`.

    Example:

    >>> X = np.stack([np.arange(9).reshape(3, 3), np.arange(1, 10).reshape(3, 3)])
    >>> K = np.stack([np.arange(4).reshape(2, 2), np.arange(1, 5).reshape(2, 2)])
    >>> corr2d_multi_in(X, K).numpy()
    array([[ 56.,  72.],
           [104., 120.]], dtype=float32)
    """
    dtype = _result_dtype(X, K)
    X = _as_tensor(X, "X", dtype, 3)
    K = _as_tensor(K, "K", dtype, 3)
    _check_channels(X, K, 0, 0)
    _check_fits(X, K, tuple(X.shape[1:]), tuple(K.shape[1:]))
    x = tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c_i)
    kernel = tf.transpose(K, [1, 2, 0])[..., None]  # (k_h, k_w, c_i, 1)
    return _core.conv2d_valid(x, kernel)[0, :, :, 0]


def corr2d_multi_in_out(X: ArrayLike, K: ArrayLike) -> tf.Tensor:
    """Cross-correlation with several input and several output channels.

    Output channel `o` is `corr2d_multi_in(X, K[o])`; all output channels are
    computed together in one matrix product.

    Args:
        X: Input array of shape `(c_i, h, w)`.
        K: Kernel array of shape `(c_o, c_i, k_h, k_w)`.

    Returns:
        A `tf.Tensor` of shape `(c_o, h - k_h + 1, w - k_w + 1)`.

    Example:

    >>> X = np.stack([np.arange(9).reshape(3, 3), np.arange(1, 10).reshape(3, 3)])
    >>> K = np.stack([np.arange(4).reshape(2, 2), np.arange(1, 5).reshape(2, 2)])
    >>> corr2d_multi_in_out(X, np.stack([K, K + 1, K + 2])).shape
    TensorShape([3, 2, 2])
    """
    dtype = _result_dtype(X, K)
    X = _as_tensor(X, "X", dtype, 3)
    K = _as_tensor(K, "K", dtype, 4)
    _check_channels(X, K, 0, 1)
    _check_fits(X, K, tuple(X.shape[1:]), tuple(K.shape[2:]))
    x = tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c_i)
    kernel = tf.transpose(K, [2, 3, 1, 0])  # (k_h, k_w, c_i, c_o)
    y = _core.conv2d_valid(x, kernel)[0]  # (h_o, w_o, c_o)
    return tf.transpose(y, [2, 0, 1])


def corr2d_multi_in_out_1x1(X: ArrayLike, K: ArrayLike) -> tf.Tensor:
    """A 1x1 convolution written as one fully connected matrix product.

    Every pixel's `c_i` channel values are mapped to `c_o` values by the same
    `(c_o, c_i)` matrix: `X` is flattened to `(c_i, h * w)`, multiplied from the
    left by the kernel matrix and reshaped back. Equal to
    `corr2d_multi_in_out(X, K)` for a `(c_o, c_i, 1, 1)` kernel.

    Args:
        X: Input array of shape `(c_i, h, w)`.
        K: Kernel array of shape `(c_o, c_i, 1, 1)` or `(c_o, c_i)`.

    Returns:
        A `tf.Tensor` of shape `(c_o, h, w)`.

    Example:

    >>> X = np.random.uniform(size=(3, 3, 3))
    >>> K = np.random.uniform(size=(2, 3, 1, 1))
    >>> corr2d_multi_in_out_1x1(X, K).shape
    TensorShape([2, 3, 3])
    """
    dtype = _result_dtype(X, K)
    X = _as_tensor(X, "X", dtype, 3)
    K = _as_tensor(K, "K", dtype, (2, 4))
    if K.shape.rank == 4 and tuple(K.shape[2:]) != (1, 1):
        raise ValueError(
            "`K` must be a 1x1 kernel of shape (c_o, c_i, 1, 1) or a (c_o, c_i) matrix. "
            f"Received: K.shape={tuple(K.shape.as_list())}"
        )
    _check_channels(X, K, 0, 1)
    c_i, h, w = X.shape
    c_o = K.shape[0]
    y = tf.matmul(tf.reshape(K, [c_o, c_i]), tf.reshape(X, [c_i, h * w]))
    return tf.reshape(y, [c_o, h, w])


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------


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
    if not isinstance(mode, str) or mode not in ("max", "avg"):
        raise ValueError(f"`mode` must be 'max' or 'avg'. Received: mode={mode!r}")
    pool_hw = _core.normalize_pair(pool_size, "pool_size")
    strides = pool_hw if stride is None else _core.normalize_pair(stride, "stride")
    pad_hw = _core.normalize_pair(padding, "padding", minimum=0)
    if pad_hw[0] >= pool_hw[0] or pad_hw[1] >= pool_hw[1]:
        raise ValueError(
            f"`padding` must be smaller than `pool_size` {pool_hw} along both axes, so that "
            f"no window covers only padding. Received: padding={padding!r}"
        )
    dtype = _result_dtype(X)
    X = _as_tensor(X, "X", dtype, (2, 3))
    squeeze = X.shape.rank == 2
    x = X[None, :, :, None] if squeeze else tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c)
    padded_hw = (x.shape[1] + 2 * pad_hw[0], x.shape[2] + 2 * pad_hw[1])
    if pool_hw[0] > padded_hw[0] or pool_hw[1] > padded_hw[1]:
        raise ValueError(
            f"`pool_size` {pool_hw} must fit inside the padded input {padded_hw}. "
            f"Received: pool_size={pool_size!r}, X.shape={tuple(X.shape.as_list())}"
        )
    pads = ((pad_hw[0], pad_hw[0]), (pad_hw[1], pad_hw[1]))
    y = _core.pool2d(x, pool_hw, strides, pads, mode)  # (1, h_o, w_o, c)
    return y[0, :, :, 0] if squeeze else tf.transpose(y[0], [2, 0, 1])


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


def conv_output_shape(
    input_hw: tuple[int, int],
    kernel_size: int | tuple[int, int],
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """Output height and width of a convolution or pooling window (pure).

    Along each axis the book's formula `(n - k + 2 p + s) // s`, where `p` is
    the padding on each side (so `2 p` rows or columns are added in total).

    Args:
        input_hw: Input `(h, w)`.
        kernel_size: Window size, an int or `(k_h, k_w)`.
        padding: Padding per side, an int or `(p_h, p_w)`. Defaults to 0.
        stride: An int or `(s_h, s_w)`. Defaults to 1.

    Returns:
        The output `(h_o, w_o)` as a tuple of ints.

    Example:

    >>> conv_output_shape((8, 8), (3, 5), padding=(0, 1), stride=(3, 4))
    (2, 2)
    """
    n_hw = _core.normalize_pair(input_hw, "input_hw")
    k_hw = _core.normalize_pair(kernel_size, "kernel_size")
    p_hw = _core.normalize_pair(padding, "padding", minimum=0)
    s_hw = _core.normalize_pair(stride, "stride")
    out = tuple(_core.output_length(n_hw[a], k_hw[a], 2 * p_hw[a], s_hw[a]) for a in range(2))
    if min(out) < 1:
        raise ValueError(
            f"`kernel_size` {k_hw} is larger than the padded input "
            f"({n_hw[0] + 2 * p_hw[0]}, {n_hw[1] + 2 * p_hw[1]}): the output would be "
            f"{out}. Received: kernel_size={kernel_size!r}"
        )
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConvCost:
    """What one convolutional layer costs, from `conv_cost`.

    A multiply-add (MAC) is one multiplication and one addition, so FLOPs are
    twice the MACs. Memory counts float32 values (4 bytes each).

    Attributes:
        output_hw: Output `(h_o, w_o)`.
        params: Kernel weights plus one bias per output channel.
        forward_macs: `batch * c_o * h_o * w_o * c_i * k_h * k_w`.
        backward_input_macs: MACs of the gradient with respect to the input.
        backward_kernel_macs: MACs of the gradient with respect to the kernel.
        backward_macs: Their sum, twice `forward_macs`.
        input_bytes: The input activations.
        output_bytes: The output activations.
        param_bytes: Kernel and bias.
        forward_bytes: What the forward pass holds: input, parameters, output.
        backward_bytes: What the backward pass holds: the forward pass's
            tensors plus the gradients of output, input and parameters.
    """

    output_hw: tuple[int, int]
    params: int
    forward_macs: int
    backward_input_macs: int
    backward_kernel_macs: int
    input_bytes: int
    output_bytes: int
    param_bytes: int

    @property
    def backward_macs(self) -> int:
        return self.backward_input_macs + self.backward_kernel_macs

    @property
    def forward_flops(self) -> int:
        return 2 * self.forward_macs

    @property
    def backward_flops(self) -> int:
        return 2 * self.backward_macs

    @property
    def forward_bytes(self) -> int:
        return self.input_bytes + self.param_bytes + self.output_bytes

    @property
    def backward_bytes(self) -> int:
        # dY has the output's shape, dX the input's and dK, db the parameters'.
        return 2 * self.forward_bytes

    def as_dict(self) -> dict[str, Any]:
        """All fields and derived totals as a plain dict."""
        names = [f.name for f in dataclasses.fields(self)]
        derived = ["backward_macs", "forward_flops", "backward_flops"]
        derived += ["forward_bytes", "backward_bytes"]
        return {name: getattr(self, name) for name in names + derived}


def conv_cost(
    c_i: int,
    c_o: int,
    h: int,
    w: int,
    k: int | tuple[int, int],
    p: int | tuple[int, int] = 0,
    s: int | tuple[int, int] = 1,
    batch: int = 1,
    bias: bool = True,
) -> ConvCost:
    """Multiply-adds and float32 memory of a convolutional layer (pure).

    Answers the chapter's exercise on the cost of a `c_o x c_i x k_h x k_w`
    convolution of a `c_i x h x w` input with padding `(p_h, p_w)` and stride
    `(s_h, s_w)`. Every output value takes `c_i * k_h * k_w` multiply-adds (the
    bias add takes the place of the first product's add), padded cells
    included, as a direct implementation computes them. The backward pass
    needs two such products: every forward product `x * k` contributes
    `dy * k` to the input's gradient and `dy * x` to the kernel's, so each
    costs as many MACs as the forward pass (the bias gradient, a sum of `dy`,
    is not counted).

    Args:
        c_i: Input channels.
        c_o: Output channels.
        h: Input height.
        w: Input width.
        k: Kernel size, an int or `(k_h, k_w)`.
        p: Padding per side, an int or `(p_h, p_w)`. Defaults to 0.
        s: Stride, an int or `(s_h, s_w)`. Defaults to 1.
        batch: Examples per batch; costs and activations scale with it.
        bias: Whether the layer has a bias per output channel.

    Returns:
        A `ConvCost`.

    Example:

    >>> cost = conv_cost(1, 6, 28, 28, 5, p=2)  # LeNet's first layer
    >>> cost.output_hw, cost.forward_macs, cost.params
    ((28, 28), 117600, 156)
    """
    for name, value in (("c_i", c_i), ("c_o", c_o), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    k_h, k_w = _core.normalize_pair(k, "k")
    h_o, w_o = conv_output_shape((h, w), (k_h, k_w), p, s)
    window = c_i * k_h * k_w
    forward = batch * c_o * h_o * w_o * window
    params = c_o * window + (c_o if bias else 0)
    return ConvCost(
        output_hw=(h_o, w_o),
        params=params,
        forward_macs=forward,
        backward_input_macs=forward,
        backward_kernel_macs=forward,
        input_bytes=4 * batch * c_i * h * w,
        output_bytes=4 * batch * c_o * h_o * w_o,
        param_bytes=4 * params,
    )
