"""The one pixel transform: raw pixels (0-255) to a network's input.

The data pipeline, the `PixelScaling` layer that saved models start with,
export's checks, the pictures and the benchmarks all scale pixels through
`scale_pixels`, so that they agree bit for bit.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tfconv.utils.checks import check_number


def scale_pixels(images: Any, mean: float = 0.0, std: float = 1.0) -> tf.Tensor:
    """`images / 255` in float32, then `(x - mean) / std` unless `mean=0, std=1`.

    Args:
        images: Pixels in 0-255, any shape and real dtype (NumPy or TF).
        mean: Mean of the training pixels scaled to [0, 1].
        std: Their standard deviation (> 0).

    Returns:
        A float32 tensor of the same shape.
    """
    # Plain operators on float32 tensors: the pipeline, the saved model's
    # first layer and the exported file must compute the same bits.
    x = tf.cast(images, tf.float32) / 255.0
    if (mean, std) != (0.0, 1.0):
        x = (x - mean) / std
    return x


@keras.saving.register_keras_serializable(package="tfconv")
class PixelScaling(keras.layers.Layer):
    """Maps raw pixels (0-255) to a network's input: `x / 255`, then `(x - mean) / std`.

    It is the first layer of every model `tfconv train` saves, so that the
    `.keras` file takes raw pixels wherever it is copied. The arithmetic is
    the data pipeline's (`tfconv.data.pipelines`), op for op, so the saved
    model gives bit for bit the logits the training pipeline would.

    Args:
        mean: Mean of the training pixels scaled to [0, 1]; subtracted after
            the division by 255. With `mean=0` and `std=1` only the division runs.
        std: Standard deviation of the scaled training pixels (> 0).
        **kwargs: Base layer keyword arguments (`name`, ...). The layer
            computes in float32 under any dtype policy, as the pipeline does.

    Input shape:
        Any shape; uint8 or float pixels in 0-255.

    Output shape:
        Same as the input, float32.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, **kwargs: Any) -> None:
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.mean = float(check_number("mean", mean))
        self.std = float(check_number("std", std, minimum=0, strict=True))

    @property
    def standardizes(self) -> bool:
        """Whether the layer subtracts a mean or divides by a std after the scaling."""
        return (self.mean, self.std) != (0.0, 1.0)

    def describe(self) -> str:
        """The formula, e.g. `"x / 255"` or `"(x / 255 - 0.286041) / 0.353024"`."""
        if not self.standardizes:
            return "x / 255"
        return f"(x / 255 - {self.mean:.6f}) / {self.std:.6f}"

    def call(self, inputs: Any) -> Any:
        return scale_pixels(inputs, self.mean, self.std)

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(mean=self.mean, std=self.std)
        return config
