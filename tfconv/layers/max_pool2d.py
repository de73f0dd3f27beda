"""Max pooling over 2-D windows, with tfconv's own math."""

from __future__ import annotations

import keras

from tfconv.layers.base_pool import BasePool2D


@keras.saving.register_keras_serializable(package="tfconv")
class MaxPool2D(BasePool2D):
    """Max pooling layer, a drop-in for `keras.layers.MaxPooling2D`.

    Each output is the maximum of one window, computed as a separable
    reduction (columns, then rows) over reshaped views, or over strided views
    when windows overlap; no built-in pooling kernel is called. Padded cells
    never win. As in Keras (TensorFlow's CPU kernel), a NaN never wins, a
    float32/float64 window of only -inf and NaN gives the dtype's lowest
    finite value, and the gradient of a window goes to its first maximal cell
    in row-major order (to its first cell if that is NaN or the maximum is
    -inf). Integer inputs (int8/16/32/64, uint8/16) are pooled in their own
    dtype, as Keras's layer does.

    Args:
        pool_size: int or `(ph, pw)`. Defaults to 2.
        strides: int or `(sh, sw)`; `None` (default) means `pool_size`, as in
            Keras.
        padding: `"valid"`, `"same"` (TensorFlow's SAME), case-insensitive,
            or tfconv's explicit zero padding: an int `p`, `(p_h, p_w)` or
            `((top, bottom), (left, right))` (Keras has no such option).
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

    >>> x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    >>> tfconv.layers.MaxPool2D(3, strides=2, padding=1)(x)[0, :, :, 0]
    [[5, 7], [13, 15]]
    >>> keras_layer = keras.layers.MaxPooling2D(3, strides=2, padding="same")
    >>> tfconv.layers.MaxPool2D.from_config(keras_layer.get_config())
    """

    mode = "max"


MaxPooling2D = MaxPool2D
