"""Average pooling over 2-D windows, with tfconv's own math."""

from __future__ import annotations

import keras

from tfconv.layers.base_pool import BasePool2D


@keras.saving.register_keras_serializable(package="tfconv")
class AvgPool2D(BasePool2D):
    """Average pooling layer, a drop-in for `keras.layers.AveragePooling2D`.

    Each output is the mean of one window, computed as a separable sum
    (columns, then rows) over reshaped views, or over strided views when
    windows overlap; no built-in pooling kernel is called. A NaN or Inf
    reaches exactly the outputs whose windows hold it, as in Keras. Integer
    inputs are refused with a `TypeError` (Keras's layer fails on them too).

    Padding and the denominator:
        - explicit padding (`p`, `(p_h, p_w)` or per side) adds zeros that
          **count** in the mean, as the book's pooling does;
        - `"same"` divides each window by the number of **real** cells it
          covers, as Keras and TensorFlow do;
        - `"valid"` has no padding.

    Args:
        pool_size: int or `(ph, pw)`. Defaults to 2 (Keras has no default).
        strides: int or `(sh, sw)`; `None` (default) means `pool_size`.
        padding: `"valid"`, `"same"` (case-insensitive), or tfconv's explicit
            padding: an int `p`, `(p_h, p_w)` or `((top, bottom), (left, right))`.
        data_format: `"channels_last"` (NHWC) or `"channels_first"` (NCHW);
            `None` (default) means `keras.config.image_data_format()`.
        name: The layer's name.
        **kwargs: Other base layer arguments (`dtype`, `trainable`, ...).

    Input shape:
        4-D tensor `(batch, height, width, channels)` (or `(batch, channels,
        height, width)`); batch, height, width and channels may be `None`.

    Output shape:
        4-D tensor `(batch, new_height, new_width, channels)` (or
        channels-first); see `tfconv.layers.pool2d_output_shape`.

    Example:

    >>> x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    >>> tfconv.layers.AvgPool2D(2, strides=1)(x)[0, :, :, 0]
    [[2, 3], [5, 6]]
    """

    mode = "avg"


AveragePooling2D = AvgPool2D
