"""Builds a model of a variant (`build`) and prints its shapes as the book does (`summary`).

Named `builder`, not `build`, so that the package's `build` function does not
shadow the module of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from tfconv import layers as tfconv_layers
from tfconv.models.config import LAYER_BACKENDS, ModelConfig, with_overrides
from tfconv.models.registry import get_config
from tfconv.utils.checks import check_choice


def build(
    variant: str | ModelConfig = "lenet",
    layers: str = "tfconv",
    name: str | None = None,
    **overrides: Any,
) -> keras.Model:
    """Builds a (functional) Keras model of a variant.

    Layers are named stably, `conv1`, `bn1`, `act1`, `pool1`, ..., `flatten`,
    `dense1`, `bn_dense1`, `act_dense1`, `dropout1`, ..., `logits`, so that
    weights can be copied by name between `layers="tfconv"` and
    `layers="keras"` builds of the same config, whose weight shapes agree.

    Args:
        variant: A name from `list_variants()` or a `ModelConfig`.
        layers: `"tfconv"` for tfconv's own `Conv2D` / `MaxPool2D` /
            `AvgPool2D`, or `"keras"` for Keras's built-in layers.
        name: Model name; defaults to the variant's name (`"custom"` for a
            `ModelConfig`).
        **overrides: Config fields to replace, e.g. `activation="relu"`.

    Returns:
        An uncompiled `keras.Model` mapping `(batch, *input_shape)` images to
        `(batch, num_classes)` logits. The logits layer is float32 even under
        a mixed-precision policy, so losses stay numerically safe.

    Raises:
        ValueError: On an unknown variant, override field or `layers` value,
            or an invalid field value.

    Example:

    >>> model = build("lenet_modern", layers="keras", dropout=0.1)
    >>> model(np.zeros((2, 28, 28, 1), "float32")).shape
    TensorShape([2, 10])
    """
    if isinstance(variant, ModelConfig):
        config, default_name = variant, "custom"
    else:
        config, default_name = get_config(variant), variant
    check_choice("layers", layers, LAYER_BACKENDS)
    config = with_overrides(config, overrides)
    inputs = keras.Input(shape=config.input_shape, name="image")
    x = _conv_blocks(inputs, config, layers)
    x = _dense_blocks(x, config)
    outputs = _logits(x, config)
    return keras.Model(inputs, outputs, name=name or default_name)


def _inline_activation(config: ModelConfig) -> str | None:
    # With batch norm the activation becomes its own layer after the norm.
    return None if config.batch_norm else config.activation


def _norm_and_activation(x: Any, config: ModelConfig, suffix: str) -> Any:
    """With batch norm: layers `bn{suffix}` then `act{suffix}`; without: `x` unchanged."""
    if config.batch_norm:
        x = keras.layers.BatchNormalization(name=f"bn{suffix}")(x)
        x = keras.layers.Activation(config.activation, name=f"act{suffix}")(x)
    return x


def _layer_classes(config: ModelConfig, layers: str) -> tuple[type, type]:
    """The convolution and pooling classes of the `layers` backend."""
    if layers == "tfconv":
        pool = tfconv_layers.MaxPool2D if config.pooling == "max" else tfconv_layers.AvgPool2D
        return tfconv_layers.Conv2D, pool
    pool = keras.layers.MaxPooling2D if config.pooling == "max" else keras.layers.AveragePooling2D
    return keras.layers.Conv2D, pool


def _keras_first_padding(kernel_size: int, pad: int) -> str | None:
    # Keras's conv has no book-style int padding. Stride 1 with p = (k - 1) / 2
    # is exactly "same" and p = 0 is "valid"; any other p needs a separate
    # ZeroPadding2D (returns None). All three keep the weight shapes.
    if pad == 0:
        return "valid"
    if kernel_size % 2 == 1 and pad == (kernel_size - 1) // 2:
        return "same"
    return None


def _first_padding(x: Any, config: ModelConfig, layers: str) -> tuple[Any, Any]:
    """`(x, padding)` for the first convolution, `x` zero-padded if Keras needs it."""
    if layers == "tfconv":
        return x, config.first_padding
    padding = _keras_first_padding(config.kernel_size, config.first_padding)
    if padding is None:
        x = keras.layers.ZeroPadding2D(config.first_padding, name="pad1")(x)
        padding = "valid"
    return x, padding


def _conv_blocks(x: Any, config: ModelConfig, layers: str) -> Any:
    """Convolution → [batch norm → activation] → pooling, once per `conv_channels`."""
    conv_cls, pool_cls = _layer_classes(config, layers)
    for i, channels in enumerate(config.conv_channels, start=1):
        if i == 1:
            x, padding = _first_padding(x, config, layers)
        else:
            padding = config.conv_padding
        x = conv_cls(
            channels,
            config.kernel_size,
            padding=padding,
            activation=_inline_activation(config),
            use_bias=not config.batch_norm,
            kernel_initializer=config.initializer,
            name=f"conv{i}",
        )(x)
        x = _norm_and_activation(x, config, str(i))
        x = pool_cls(config.pool_size, strides=config.pool_size, name=f"pool{i}")(x)
    return x


def _dense_blocks(x: Any, config: ModelConfig) -> Any:
    """Flatten, then dense → [batch norm → activation] → [dropout] per `dense_units`."""
    x = keras.layers.Flatten(name="flatten")(x)
    if not config.dense_units and config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout0")(x)
    for j, units in enumerate(config.dense_units, start=1):
        x = keras.layers.Dense(
            units,
            activation=_inline_activation(config),
            use_bias=not config.batch_norm,
            kernel_initializer=config.initializer,
            name=f"dense{j}",
        )(x)
        x = _norm_and_activation(x, config, f"_dense{j}")
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{j}")(x)
    return x


def _logits(x: Any, config: ModelConfig) -> Any:
    # float32 even under mixed precision, so that the loss stays stable.
    return keras.layers.Dense(
        config.num_classes,
        kernel_initializer=config.initializer,
        dtype="float32",
        name="logits",
    )(x)


def summary(
    model: keras.Model,
    input_shape: tuple[int, ...] | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> list[tuple[str, tuple[int, ...]]]:
    """Prints each layer's output shape for one random example, as the book does.

    A single uniform-random example is pushed through the layers one at a
    time (inference mode), so this only suits models that are a plain chain
    of layers, like every model `build` returns.

    Args:
        model: A built model whose layers form a chain.
        input_shape: Shape of one example without the batch axis; defaults to
            the model's input shape.
        print_fn: Called with one line per layer, e.g.
            `"Conv2D output shape:\\t (1, 28, 28, 6)"`; `None` prints nothing.

    Returns:
        `(layer class name, output shape)` per layer, batch axis included.
    """
    if input_shape is None:
        input_shape = tuple(model.input_shape[1:])
    shape = (1, *(int(v) for v in input_shape))
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    rows: list[tuple[str, tuple[int, ...]]] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        x = layer(x, training=False)
        row = (type(layer).__name__, tuple(int(v) for v in x.shape))
        rows.append(row)
        if print_fn is not None:
            print_fn(f"{row[0]} output shape:\t {row[1]}")
    return rows
