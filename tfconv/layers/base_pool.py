"""Shared machinery of tfconv's pooling layers (no public class here)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfconv._core import pool as core_pool
from tfconv._core import shapes

# What TensorFlow's max pool kernel (and so Keras's MaxPooling2D) accepts.
_MAX_DTYPES = (tf.int8, tf.int16, tf.int32, tf.int64, tf.uint8, tf.uint16)


def pool2d_output_shape(
    input_shape: tuple[int | None, ...],
    pool_size: Any = 2,
    strides: Any = None,
    padding: Any = "valid",
    data_format: str = "channels_last",
) -> tuple[int | None, ...]:
    """Output shape of a 2-D pooling layer for a 4-D `input_shape` (pure).

    Unknown (`None`) sizes stay unknown.

    Example:

    >>> pool2d_output_shape((None, 28, 28, 6), 2)
    (None, 14, 14, 6)
    >>> pool2d_output_shape((None, 6, None, 28), 2, data_format="channels_first")
    (None, 6, None, 14)
    """
    pool = shapes.normalize_pair(pool_size, "pool_size")
    stride = pool if strides is None else shapes.normalize_pair(strides, "strides")
    data_format = shapes.normalize_data_format(data_format)
    spatial = slice(2, 4) if data_format == "channels_first" else slice(1, 3)
    ho, wo = shapes.window_output_hw(
        tuple(input_shape[spatial]), pool, stride, shapes.normalize_padding(padding)
    )
    if data_format == "channels_first":
        return (input_shape[0], input_shape[1], ho, wo)
    return (input_shape[0], ho, wo, input_shape[3])


class BasePool2D(keras.layers.Layer):
    """Pooling over 2-D windows; subclasses set `mode` ("max" or "avg")."""

    mode = ""

    def __init__(
        self,
        pool_size: Any = 2,
        strides: Any = None,
        padding: Any = "valid",
        data_format: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.pool_size = shapes.normalize_pair(pool_size, "pool_size")
        self.strides = (
            self.pool_size if strides is None else shapes.normalize_pair(strides, "strides")
        )
        self.padding = shapes.normalize_padding(padding)
        if not isinstance(self.padding, str) and any(
            max(self.padding[axis]) >= self.pool_size[axis] for axis in range(2)
        ):
            # Otherwise some windows would cover only padding (a max of -inf).
            raise ValueError(
                f"`padding` must be smaller than `pool_size` {self.pool_size} on every side. "
                f"Received: padding={padding!r}"
            )
        self.data_format = shapes.normalize_data_format(data_format)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self._check_input(input_shape)

    def _check_input(self, input_shape: tuple[int | None, ...]) -> None:
        # Checked at build and at every call (not by an InputSpec) so that errors name the
        # argument and say what was received.
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            layout = (
                "(batch, channels, height, width)"
                if self.data_format == "channels_first"
                else "(batch, height, width, channels)"
            )
            raise ValueError(
                f"{type(self).__name__} expects a 4-D {layout} input. "
                f"Received: input_shape={input_shape}"
            )
        out = self.compute_output_shape(input_shape)
        spatial = out[2:4] if self.data_format == "channels_first" else out[1:3]
        if any(n is not None and n < 1 for n in spatial):
            raise ValueError(
                f"The input of {type(self).__name__} is smaller than its window "
                f"{self.pool_size} with padding {self.padding!r}. "
                f"Received: input_shape={input_shape}"
            )

    def _check_dtype(self, dtype: tf.DType) -> None:
        dtype = tf.as_dtype(dtype)
        if dtype.is_floating:
            return
        if self.mode == "max" and dtype in _MAX_DTYPES:
            return
        # Keras's layers fail here inside TensorFlow's kernel; say so up front instead.
        wanted = "a float" if self.mode == "avg" else "a float or (u)int8/16, int32/64"
        raise TypeError(
            f"{type(self).__name__} needs {wanted} input, as Keras's "
            f"{'AveragePooling2D' if self.mode == 'avg' else 'MaxPooling2D'} does. "
            f"Received: inputs.dtype={dtype.name}"
        )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        self._check_input(inputs.shape)
        self._check_dtype(inputs.dtype)
        return core_pool.pool2d(
            inputs, self.pool_size, self.strides, self.padding, self.mode, self.data_format
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return pool2d_output_shape(
            input_shape, self.pool_size, self.strides, self.padding, self.data_format
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
            }
        )
        return config
