"""Converting Keras models to tfconv's layers."""

from __future__ import annotations

from typing import Any

import keras

from tfconv.layers.average_pool2d import AvgPool2D
from tfconv.layers.conv2d import Conv2D
from tfconv.layers.max_pool2d import MaxPool2D

# tfconv's class for each of Keras's built-in layer classes, by class name.
_SWAPS = {
    "Conv2D": Conv2D,
    "MaxPooling2D": MaxPool2D,
    "AveragePooling2D": AvgPool2D,
}


def keras_equivalents() -> dict[str, type]:
    """The names of Keras's layer classes that `replace_in` swaps, with tfconv's classes."""
    return dict(_SWAPS)


def _swap_for(layer: Any) -> type | None:
    # Keras's own classes only (by module and name, so that this module never
    # touches Keras's convolution layers): subclasses and other libraries'
    # layers of the same name are cloned unchanged.
    cls = type(layer)
    if cls.__module__.split(".")[0] != "keras":
        return None
    return _SWAPS.get(cls.__name__)


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

    def clone(layer: Any) -> Any:
        cls = _swap_for(layer) or type(layer)
        return cls.from_config(layer.get_config())

    converted = keras.models.clone_model(model, clone_function=clone, recursive=True)
    converted.set_weights(model.get_weights())
    return converted
