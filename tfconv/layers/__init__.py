"""Keras 3 layers that re-implement convolution and pooling with tfconv's core."""

from tfconv import _backend  # noqa: F401  (first: refuses a non-TensorFlow Keras backend)
from tfconv.layers.average_pool2d import AveragePooling2D, AvgPool2D
from tfconv.layers.base_pool import pool2d_output_shape
from tfconv.layers.class_names import ClassNames
from tfconv.layers.conv2d import Conv2D, conv2d_output_shape
from tfconv.layers.convert import keras_equivalents, load_model, replace_in
from tfconv.layers.kinds import is_conv, is_pool
from tfconv.layers.max_pool2d import MaxPool2D, MaxPooling2D
from tfconv.layers.pixel_scaling import PixelScaling, scale_pixels

__all__ = [
    "AveragePooling2D",
    "AvgPool2D",
    "ClassNames",
    "Conv2D",
    "MaxPool2D",
    "MaxPooling2D",
    "PixelScaling",
    "conv2d_output_shape",
    "is_conv",
    "is_pool",
    "keras_equivalents",
    "load_model",
    "pool2d_output_shape",
    "replace_in",
    "scale_pixels",
]
