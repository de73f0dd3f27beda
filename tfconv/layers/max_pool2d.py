"""Max pooling over 2-D windows, with tfconv's own math."""

from __future__ import annotations

import keras

from tfconv.layers.base_pool import BasePool2D


@keras.saving.register_keras_serializable(package="tfconv")
class MaxPool2D(BasePool2D):
    """Max pooling layer, a drop-in for `keras.layers.MaxPooling2D` (channels-last).

    Each output is the maximum of one window, computed as a separable
    reduction (columns, then rows) over reshaped views, or over strided views
    when windows overlap; no built-in pooling kernel is called. Padded cells
    never win. Where several cells tie for the maximum, the gradient goes to
    the first in row-major order, as in Keras.

    Args:
        pool_size: int or `(ph, pw)`. Defaults to 2.
        strides: int or `(sh, sw)`; `None` (default) means `pool_size`, as in
            the book and in Keras.
        padding: `"valid"`, `"same"` (TensorFlow's SAME), an int `p`,
            `(p_h, p_w)` or `((top, bottom), (left, right))`.
        data_format: Only `"channels_last"` (or `None`) is supported.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape:
        4-D tensor `(batch, height, width, channels)`, static height and width.

    Output shape:
        4-D tensor `(batch, new_height, new_width, channels)`; see
        `tfconv.layers.pool2d_output_shape`.

    Example:

    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> tfconv.layers.MaxPool2D(3, strides=2, padding=1)(x)[0, :, :, 0]
    [[5, 7], [13, 15]]
    """

    mode = "max"


MaxPooling2D = MaxPool2D
