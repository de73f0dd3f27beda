"""Shared machinery of tfconv's pooling layers (no public class here)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfconv import _core


def pool2d_output_shape(
    input_shape: tuple[int | None, ...],
    pool_size: Any = 2,
    strides: Any = None,
    padding: Any = "valid",
) -> tuple[int | None, ...]:
    """Output shape of a 2-D pooling layer for an NHWC `input_shape` (pure).

    Example:

    >>> pool2d_output_shape((None, 28, 28, 6), 2)
    (None, 14, 14, 6)
    """
    pool = _core.normalize_pair(pool_size, "pool_size")
    stride = pool if strides is None else _core.normalize_pair(strides, "strides")
    ho, wo = _core.window_output_hw(
        input_shape[1:3], pool, stride, _core.normalize_padding(padding)
    )
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                "tfconv layers support only channels-last input. "
                f"Received: data_format={data_format!r}"
            )
        self.pool_size = _core.normalize_pair(pool_size, "pool_size")
        self.strides = (
            self.pool_size if strides is None else _core.normalize_pair(strides, "strides")
        )
        self.padding = _core.normalize_padding(padding)
        if not isinstance(self.padding, str) and any(
            max(self.padding[axis]) >= self.pool_size[axis] for axis in range(2)
        ):
            # Otherwise some windows would cover only padding (a max of dtype.min).
            raise ValueError(
                f"`padding` must be smaller than `pool_size` {self.pool_size} on every side. "
                f"Received: padding={padding!r}"
            )
        self.data_format = "channels_last"

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self._check_input(input_shape)

    def _check_input(self, input_shape: tuple[int | None, ...]) -> None:
        # Checked at build and at every call (not by an InputSpec) so that errors name the
        # argument and say what was received.
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects a 4-D (batch, height, width, channels) "
                f"input. Received: input_shape={tuple(input_shape)}"
            )
        if input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"{type(self).__name__} needs static height and width. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        ho, wo = self.compute_output_shape(input_shape)[1:3]
        if ho < 1 or wo < 1:
            raise ValueError(
                f"The input of {type(self).__name__} is smaller than its window "
                f"{self.pool_size} with padding {self.padding!r}. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        self._check_input(inputs.shape)
        return _core.pool2d(inputs, self.pool_size, self.strides, self.padding, self.mode)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return pool2d_output_shape(input_shape, self.pool_size, self.strides, self.padding)

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
