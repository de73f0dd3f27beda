"""Wraps a trained model so that it takes raw pixels and carries its class names.

`PixelScaling` and `ClassNames` themselves are layers (`tfconv.layers`); this
module puts them around a model and finds them again in a loaded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from tfconv.layers.class_names import ClassNames
from tfconv.layers.pixel_scaling import PixelScaling


def find_layer(model: keras.Model, cls: type) -> Any:
    """The first top-level layer of `model` that is a `cls`, or `None`."""
    return next((layer for layer in getattr(model, "layers", []) if isinstance(layer, cls)), None)


def _is_chain(model: keras.Model) -> bool:
    """Whether `model` is one input through its layers in order, each feeding the next."""
    try:
        previous = model.inputs[0]
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if layer.input is not previous:
                return False
            previous = layer.output
        return len(model.inputs) == 1 and model.outputs[0] is previous
    except (AttributeError, ValueError, IndexError):
        return False


def with_preprocessing(
    model: keras.Model,
    mean: float = 0.0,
    std: float = 1.0,
    class_names: Sequence[str] | None = None,
    dataset: str | None = None,
) -> keras.Model:
    """The same network taking raw pixels (0-255), with its class names attached.

    The result shares `model`'s layers and weights: a `PixelScaling` layer
    first, `model`'s layers, then (with `class_names`) a `ClassNames` layer.
    A plain chain (every model `build` returns) stays a flat chain of
    layers, so `summary` and `tfconv.viz` see the convolutions as before.

    Args:
        model: A model trained on pixels scaled by `tfconv.data.pipelines`.
        mean: The pipeline's mean (0 without standardisation).
        std: The pipeline's std (1 without standardisation).
        class_names: Names of the logits, or `None`.
        dataset: The training dataset's name, or `None`.

    Returns:
        An uncompiled functional `keras.Model` of the same name.

    Raises:
        ValueError: If `model` already carries a `PixelScaling` layer, or on a
            bad `mean`, `std` or `class_names`.
    """
    if find_layer(model, PixelScaling) is not None:
        raise ValueError(
            f"The model already takes raw pixels (it has a PixelScaling layer). "
            f"Received: model={model.name!r}"
        )
    inputs = keras.Input(shape=tuple(model.input_shape[1:]), dtype="float32", name="pixels")
    x = PixelScaling(mean, std, name="pixel_scaling")(inputs)
    if _is_chain(model):
        for layer in model.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                x = layer(x)
    else:
        x = model(x)
    if class_names is not None:
        x = ClassNames(class_names, dataset=dataset, name="class_names")(x)
    return keras.Model(inputs, x, name=model.name)
