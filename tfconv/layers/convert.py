"""Converting Keras models to tfconv's layers."""

from __future__ import annotations

from typing import Any

import keras

from tfconv.layers.average_pool2d import AvgPool2D
from tfconv.layers.conv2d import Conv2D
from tfconv.layers.max_pool2d import MaxPool2D


def keras_equivalents() -> dict[type, type]:
    """Keras's layer classes and the tfconv classes that replace them."""
    return {
        keras.layers.Conv2D: Conv2D,
        keras.layers.MaxPooling2D: MaxPool2D,
        keras.layers.AveragePooling2D: AvgPool2D,
    }


def load_model(filepath: Any, **kwargs: Any) -> keras.Model:
    """Loads a Keras model file with tfconv's layers in place of Keras's.

    `keras.saving.load_model(filepath, **kwargs)` followed by `replace_in`
    (a `custom_objects` mapping cannot do this: Keras resolves its own
    built-in classes before looking at it). The result is not compiled.

    Example:

    >>> model = tfconv.layers.load_model("keras_model.keras")
    """
    return replace_in(keras.saving.load_model(filepath, **kwargs))


def replace_in(model: keras.Model) -> keras.Model:
    """A copy of `model` with tfconv's layers in place of Keras's conv and pool layers.

    Every `keras.layers.Conv2D`, `MaxPooling2D` and `AveragePooling2D` (exactly
    those classes, not subclasses) becomes tfconv's class built from the same
    `get_config()`; every other layer is cloned as `keras.models.clone_model`
    clones it, nested models included. The weights are copied, so the copy
    computes what `model` computes. `model` itself is left unchanged.

    Args:
        model: A Sequential or functional Keras model.

    Returns:
        The converted model (not compiled).

    Example:

    >>> converted = tfconv.layers.replace_in(keras_model)
    >>> np.allclose(converted.predict(x), keras_model.predict(x), atol=1e-5)
    True
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}")
    swaps = keras_equivalents()

    def clone(layer: Any) -> Any:
        cls = swaps.get(type(layer), type(layer))
        return cls.from_config(layer.get_config())

    converted = keras.models.clone_model(model, clone_function=clone, recursive=True)
    converted.set_weights(model.get_weights())
    return converted
