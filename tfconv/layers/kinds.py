"""Which layers are convolutions and poolings, tfconv's or Keras's.

The pictures, the cost counter and the benchmarks treat both families alike.
"""

from __future__ import annotations

from typing import Any

import keras

from tfconv.layers.average_pool2d import AvgPool2D
from tfconv.layers.conv2d import Conv2D
from tfconv.layers.max_pool2d import MaxPool2D

CONV_TYPES = (Conv2D, keras.layers.Conv2D)
POOL_TYPES = (MaxPool2D, AvgPool2D, keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)


def is_conv(layer: Any) -> bool:
    """Whether `layer` is a 2-D convolution, tfconv's or Keras's."""
    return isinstance(layer, CONV_TYPES)


def is_pool(layer: Any) -> bool:
    """Whether `layer` is 2-D max or average pooling, tfconv's or Keras's."""
    return isinstance(layer, POOL_TYPES)
