"""The book's cross-correlations: one or several input channels, several outputs, 1x1.

Each builds NHWC tensors and runs `tfconv._core`'s `conv2d_valid`, the
layers' own core, so the worked examples and the layers agree by construction.
"""

from __future__ import annotations

import tensorflow as tf

from tfconv._core.conv import conv2d_valid
from tfconv.ops.inputs import ArrayLike, as_tensor, check_channels, check_fits, result_dtype


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
    dtype = result_dtype(X, K)
    X = as_tensor(X, "X", dtype, 2)
    K = as_tensor(K, "K", dtype, 2)
    check_fits(X, K, tuple(X.shape), tuple(K.shape))
    y = conv2d_valid(X[None, :, :, None], K[:, :, None, None])
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
    dtype = result_dtype(X, K)
    X = as_tensor(X, "X", dtype, 3)
    K = as_tensor(K, "K", dtype, 3)
    check_channels(X, K, 0, 0)
    check_fits(X, K, tuple(X.shape[1:]), tuple(K.shape[1:]))
    x = tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c_i)
    kernel = tf.transpose(K, [1, 2, 0])[..., None]  # (k_h, k_w, c_i, 1)
    return conv2d_valid(x, kernel)[0, :, :, 0]


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
    dtype = result_dtype(X, K)
    X = as_tensor(X, "X", dtype, 3)
    K = as_tensor(K, "K", dtype, 4)
    check_channels(X, K, 0, 1)
    check_fits(X, K, tuple(X.shape[1:]), tuple(K.shape[2:]))
    x = tf.transpose(X, [1, 2, 0])[None]  # (1, h, w, c_i)
    kernel = tf.transpose(K, [2, 3, 1, 0])  # (k_h, k_w, c_i, c_o)
    y = conv2d_valid(x, kernel)[0]  # (h_o, w_o, c_o)
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
    dtype = result_dtype(X, K)
    X = as_tensor(X, "X", dtype, 3)
    K = as_tensor(K, "K", dtype, (2, 4))
    if K.shape.rank == 4 and tuple(K.shape[2:]) != (1, 1):
        raise ValueError(
            "`K` must be a 1x1 kernel of shape (c_o, c_i, 1, 1) or a (c_o, c_i) matrix. "
            f"Received: K.shape={tuple(K.shape.as_list())}"
        )
    check_channels(X, K, 0, 1)
    c_i, h, w = X.shape
    c_o = K.shape[0]
    y = tf.matmul(tf.reshape(K, [c_o, c_i]), tf.reshape(X, [c_i, h * w]))
    return tf.reshape(y, [c_o, h, w])
