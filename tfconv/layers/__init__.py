"""Keras 3 layers that re-implement convolution and pooling with tfconv's core."""

from tfconv.layers.average_pool2d import AveragePooling2D, AvgPool2D
from tfconv.layers.base_pool import pool2d_output_shape
from tfconv.layers.conv2d import Conv2D, conv2d_output_shape
from tfconv.layers.convert import keras_equivalents, load_model, replace_in
from tfconv.layers.max_pool2d import MaxPool2D, MaxPooling2D

__all__ = [
    "AveragePooling2D",
    "AvgPool2D",
    "Conv2D",
    "MaxPool2D",
    "MaxPooling2D",
    "conv2d_output_shape",
    "keras_equivalents",
    "load_model",
    "pool2d_output_shape",
    "replace_in",
]
