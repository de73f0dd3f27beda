"""LeNet and the chapter's variations on it, as a registry of named configs.

Every model here is the same template, a stack of convolution blocks followed
by dense layers, and a variant is just a `ModelConfig` that fills in the
template's knobs. Keeping the knobs in one flat, validated dataclass means the
same field names serve three consumers: `build(..., **overrides)`, the JSON
`--config` file of training (`config_to_dict` / `config_from_dict`) and the
hyperparameter names of a KerasTuner search.

Example:

>>> model = tfconv.models.build("lenet")
>>> model.count_params()
61706
>>> rows = tfconv.models.summary(model)
Conv2D output shape:	 (1, 28, 28, 6)
...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from tfconv import layers as tfconv_layers
from tfconv.layers.class_names import ClassNames
from tfconv.layers.pixel_scaling import PixelScaling

__all__ = [
    "ACTIVATIONS",
    "CONV_PADDINGS",
    "DESCRIPTIONS",
    "INITIALIZERS",
    "LAYER_BACKENDS",
    "OPTIMIZERS",
    "POOLINGS",
    "RECIPES",
    "SCHEDULES",
    "VARIANTS",
    "ClassNames",
    "ModelConfig",
    "PixelScaling",
    "Recipe",
    "build",
    "config_from_dict",
    "config_to_dict",
    "feature_map_sizes",
    "find_layer",
    "get_config",
    "get_recipe",
    "list_variants",
    "register_variant",
    "summary",
    "with_preprocessing",
]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "swish")
POOLINGS = ("avg", "max")
CONV_PADDINGS = ("valid", "same")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
)
LAYER_BACKENDS = ("tfconv", "keras")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine")


# --------------------------------------------------------------------------
# Validation helpers: every message names the field and ends with
# "Received: field=value" so that a bad JSON key or tuner value is obvious.
# --------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but `True` channels is always a mistake.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _int_tuple(name: str, value: Any, allow_empty: bool) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) and v >= 1 for v in value):
        raise ValueError(f"`{name}` must be a tuple of positive ints. Received: {name}={value!r}")
    if not value and not allow_empty:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    return tuple(int(v) for v in value)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    return bool(value)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The knobs of the LeNet template; the defaults are the book's LeNet-5.

    The network is `len(conv_channels)` blocks of
    convolution → [batch norm] → activation → pooling, then flatten, then one
    dense → [batch norm] → activation → [dropout] layer per entry of
    `dense_units`, then a dense layer of `num_classes` logits.

    Args:
        conv_channels: Output channels of each convolution block.
        kernel_size: Side of every (square) convolution window.
        first_padding: Zero rows/columns added on every side of the input of
            the first convolution (the book pads 28×28 images by 2 so that a
            5×5 window keeps them 28×28).
        conv_padding: Padding of the later convolutions, `"valid"` (LeNet) or
            `"same"` (keeps the size, so that deeper stacks fit 28×28).
        pooling: `"avg"` (LeNet) or `"max"`.
        pool_size: Side of the pooling window; the stride equals it.
        activation: One of `ACTIVATIONS`.
        dense_units: Widths of the hidden dense layers (may be empty).
        batch_norm: Whether to normalise before every hidden activation.
            Layers followed by batch norm have no bias, since the norm's
            offset makes it redundant.
        dropout: Dropout rate after each hidden dense layer (after flatten
            when there is none); 0 disables it.
        initializer: Kernel initializer of convolutions and dense layers, one
            of `INITIALIZERS` (the book uses Xavier, i.e. `"glorot_uniform"`).
        num_classes: Number of logits.
        input_shape: `(height, width, channels)` of one example.

    Raises:
        ValueError: If a field has a bad value, or if the feature map would
            shrink to nothing before the dense layers.
    """

    conv_channels: tuple[int, ...] = (6, 16)
    kernel_size: int = 5
    first_padding: int = 2
    conv_padding: str = "valid"
    pooling: str = "avg"
    pool_size: int = 2
    activation: str = "sigmoid"
    dense_units: tuple[int, ...] = (120, 84)
    batch_norm: bool = False
    dropout: float = 0.0
    initializer: str = "glorot_uniform"
    num_classes: int = 10
    input_shape: tuple[int, ...] = (28, 28, 1)

    def __post_init__(self) -> None:
        # Normalise in place (JSON lists → tuples, numpy ints → ints) so that
        # equal configs compare and hash equal whatever their source was.
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        set_("conv_channels", _int_tuple("conv_channels", self.conv_channels, False))
        set_("kernel_size", _positive_int("kernel_size", self.kernel_size))
        set_("first_padding", _positive_int("first_padding", self.first_padding, minimum=0))
        set_("conv_padding", _choice("conv_padding", self.conv_padding, CONV_PADDINGS))
        set_("pooling", _choice("pooling", self.pooling, POOLINGS))
        set_("pool_size", _positive_int("pool_size", self.pool_size))
        set_("activation", _choice("activation", self.activation, ACTIVATIONS))
        set_("dense_units", _int_tuple("dense_units", self.dense_units, True))
        set_("batch_norm", _flag("batch_norm", self.batch_norm))
        rate = self.dropout
        if isinstance(rate, (bool, np.bool_)) or not isinstance(
            rate, (int, float, np.integer, np.floating)
        ):
            raise ValueError(f"`dropout` must be a float in [0, 1). Received: dropout={rate!r}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"`dropout` must be a float in [0, 1). Received: dropout={rate!r}")
        set_("dropout", float(rate))
        set_("initializer", _choice("initializer", self.initializer, INITIALIZERS))
        set_("num_classes", _positive_int("num_classes", self.num_classes, minimum=2))
        shape = self.input_shape
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) != 3
            or not all(_is_int(v) and v >= 1 for v in shape)
        ):
            raise ValueError(
                "`input_shape` must be (height, width, channels) positive ints. "
                f"Received: input_shape={shape!r}"
            )
        set_("input_shape", tuple(int(v) for v in shape))
        sizes = feature_map_sizes(self)
        if min(min(hw) for hw in sizes) < 1:
            raise ValueError(
                f"The network does not fit its input: the feature maps after each "
                f"convolution block would be {sizes}. Use fewer blocks, a smaller "
                f"kernel, more padding or conv_padding='same'. "
                f"Received: input_shape={self.input_shape}"
            )


def feature_map_sizes(config: ModelConfig) -> list[tuple[int, int]]:
    """`(height, width)` after each convolution block's pooling.

    Computed with the book's formula `floor((n - k + p_total + s) / s)`, so it
    works before any layer exists (validation, tuner search spaces).

    Args:
        config: A `ModelConfig`.

    Returns:
        One `(height, width)` per entry of `config.conv_channels`; a size
        below 1 means the config does not fit its input.
    """

    def out(n: int, k: int, pad_total: int, s: int) -> int:
        return (n - k + pad_total + s) // s

    h, w = config.input_shape[:2]
    k, p = config.kernel_size, config.pool_size
    sizes = []
    for i in range(len(config.conv_channels)):
        if i == 0:
            h, w = out(h, k, 2 * config.first_padding, 1), out(w, k, 2 * config.first_padding, 1)
        elif config.conv_padding == "valid":
            h, w = out(h, k, 0, 1), out(w, k, 0, 1)
        if h < 1 or w < 1:
            sizes.append((h, w))
            break
        h, w = out(h, p, 0, p), out(w, p, 0, p)
        sizes.append((h, w))
        if h < 1 or w < 1:
            break
    return sizes


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A suggested training recipe for a variant.

    Args:
        optimizer: One of `OPTIMIZERS`.
        lr: Learning rate.
        epochs: Number of passes over the training set.
        batch_size: Minibatch size.
        augment: Whether to use light data augmentation.
        schedule: `"constant"` learning rate (the book) or `"cosine"` decay
            to 0 over all training steps.
    """

    optimizer: str = "sgd"
    lr: float = 0.9
    epochs: int = 10
    batch_size: int = 256
    augment: bool = False
    schedule: str = "constant"

    def __post_init__(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or self.lr <= 0:
            raise ValueError(f"`lr` must be a positive float. Received: lr={self.lr!r}")
        object.__setattr__(self, "lr", float(self.lr))
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _flag("augment", self.augment)
        _choice("schedule", self.schedule, SCHEDULES)


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------

_BOOK = ModelConfig()

# name → (config, one-line description, recipe). One knob changes per
# exercise variant so that each isolates the effect the book asks about.
_REGISTRY: dict[str, tuple[ModelConfig, str, Recipe]] = {
    "lenet": (_BOOK, "The book's LeNet-5: sigmoid, average pooling, 6/16 channels.", Recipe()),
    "lenet_maxpool": (
        dataclasses.replace(_BOOK, pooling="max"),
        "LeNet with max pooling instead of average pooling.",
        Recipe(),
    ),
    "lenet_relu": (
        dataclasses.replace(_BOOK, activation="relu"),
        "LeNet with ReLU instead of sigmoid.",
        # The book's lr 0.9 suits sigmoid's small gradients; ReLU diverges with it.
        Recipe(lr=0.1),
    ),
    "lenet_k3": (
        dataclasses.replace(_BOOK, kernel_size=3, first_padding=1),
        "LeNet with 3x3 convolution windows.",
        Recipe(),
    ),
    "lenet_k7": (
        dataclasses.replace(_BOOK, kernel_size=7, first_padding=3),
        "LeNet with 7x7 convolution windows.",
        Recipe(),
    ),
    "lenet_wide": (
        dataclasses.replace(_BOOK, conv_channels=(16, 32)),
        "LeNet with wider convolutions: 16/32 channels.",
        Recipe(),
    ),
    "lenet_deep": (
        dataclasses.replace(_BOOK, conv_channels=(6, 16, 32), conv_padding="same"),
        "LeNet with a third convolution block ('same' padding so 28x28 fits).",
        Recipe(),
    ),
    "lenet_dense3": (
        dataclasses.replace(_BOOK, dense_units=(120, 84, 64)),
        "LeNet with a third hidden dense layer (120/84/64).",
        Recipe(),
    ),
    "lenet_dense1": (
        dataclasses.replace(_BOOK, dense_units=(120,)),
        "LeNet with a single hidden dense layer (120).",
        Recipe(),
    ),
    "lenet_bn": (
        dataclasses.replace(_BOOK, batch_norm=True),
        "LeNet with batch normalisation before every hidden activation.",
        Recipe(),
    ),
    "lenet_dropout": (
        dataclasses.replace(_BOOK, dropout=0.2),
        "LeNet with dropout 0.2 after the hidden dense layers.",
        Recipe(),
    ),
    "lenet_modern": (
        ModelConfig(
            conv_channels=(16, 32, 64),
            kernel_size=3,
            first_padding=1,
            conv_padding="same",
            pooling="max",
            activation="relu",
            dense_units=(128,),
            batch_norm=True,
            dropout=0.5,
            initializer="he_normal",
        ),
        "Tuned for accuracy: 3 ReLU/batch-norm/max-pool blocks of 3x3 convs, dropout.",
        # Measured on Fashion-MNIST (Keras layers, seed 0): 0.919 test accuracy
        # after 10 epochs with cosine decay but only ~0.90, and noisy from epoch
        # to epoch, with a constant learning rate; the decay matters.
        Recipe(optimizer="adam", lr=2e-3, epochs=10, batch_size=128, schedule="cosine"),
    ),
    "lenet_fast": (
        ModelConfig(
            conv_channels=(8, 16),
            pooling="max",
            activation="relu",
            dense_units=(128,),
            batch_norm=True,
            initializer="he_normal",
        ),
        "Tuned for time to 0.90 on Fashion-MNIST: LeNet's shape, 8/16 ReLU/batch-norm/max-pool.",
        # Measured on the 2-core CPU (tfconv layers): ~9 s an epoch; test
        # accuracy 0.902 after 3 epochs, 0.904 after 4 (seed 0). A 3-epoch
        # cosine run ends at 0.897 on seed 1, so the recipe keeps a fourth.
        Recipe(optimizer="adam", lr=5e-3, epochs=4, batch_size=256, schedule="cosine"),
    ),
}

VARIANTS: dict[str, ModelConfig] = {name: entry[0] for name, entry in _REGISTRY.items()}
DESCRIPTIONS: dict[str, str] = {name: entry[1] for name, entry in _REGISTRY.items()}
RECIPES: dict[str, Recipe] = {name: entry[2] for name, entry in _REGISTRY.items()}


def list_variants() -> list[str]:
    """Names of the registered variants, the book's `"lenet"` first.

    Returns:
        A list of variant names accepted by `build`, `get_config` and
        `get_recipe`.
    """
    return list(VARIANTS)


def register_variant(
    name: str,
    config: ModelConfig,
    description: str,
    recipe: Recipe | None = None,
    overwrite: bool = False,
) -> None:
    """Adds a named variant to the registry (e.g. the best config of a search).

    Args:
        name: The new variant's name; also the name of the models built from it.
        config: Its `ModelConfig`.
        description: One line saying what it changes.
        recipe: Its suggested training recipe; defaults to the book's.
        overwrite: Whether an existing variant of that name may be replaced.

    Raises:
        ValueError: On a bad argument, or if `name` exists and not `overwrite`.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"`name` must be a Python identifier. Received: name={name!r}")
    if name in VARIANTS and not overwrite:
        raise ValueError(
            f"Variant {name!r} is already registered; pass overwrite=True to replace it. "
            f"Received: name={name!r}"
        )
    if not isinstance(config, ModelConfig):
        raise ValueError(f"`config` must be a ModelConfig. Received: config={config!r}")
    if not isinstance(description, str) or not description or "\n" in description:
        raise ValueError(
            f"`description` must be one non-empty line. Received: description={description!r}"
        )
    recipe = Recipe() if recipe is None else recipe
    if not isinstance(recipe, Recipe):
        raise ValueError(f"`recipe` must be a Recipe. Received: recipe={recipe!r}")
    VARIANTS[name] = config
    DESCRIPTIONS[name] = description
    RECIPES[name] = recipe


def _check_variant(variant: Any) -> str:
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(
            f"Unknown model variant. Valid variants: {list_variants()}. "
            f"Received: variant={variant!r}"
        )
    return variant


def get_config(variant: str) -> ModelConfig:
    """The `ModelConfig` of a registered variant.

    Args:
        variant: A name from `list_variants()`.

    Returns:
        The (immutable) config; derive others with `dataclasses.replace`.

    Raises:
        ValueError: If `variant` is not registered.
    """
    return VARIANTS[_check_variant(variant)]


def get_recipe(variant: str) -> Recipe:
    """The suggested training recipe of a registered variant.

    Args:
        variant: A name from `list_variants()`.

    Returns:
        A `Recipe` (optimizer, learning rate, epochs, batch size, augment).

    Raises:
        ValueError: If `variant` is not registered.
    """
    return RECIPES[_check_variant(variant)]


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(ModelConfig)]


def _with_overrides(config: ModelConfig, overrides: Mapping[str, Any]) -> ModelConfig:
    unknown = sorted(set(overrides) - set(_field_names()))
    if unknown:
        raise ValueError(
            f"Unknown ModelConfig field(s) {unknown}. Valid fields: {_field_names()}. "
            f"Received: overrides={dict(overrides)!r}"
        )
    return dataclasses.replace(config, **overrides) if overrides else config


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A JSON-friendly dict of a config (tuples become lists).

    Args:
        config: A `ModelConfig`.

    Returns:
        A dict with one key per field, e.g. for a training `--config` file.
    """
    if not isinstance(config, ModelConfig):
        raise ValueError(f"`config` must be a ModelConfig. Received: config={config!r}")
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config).items()
    }


def config_from_dict(
    data: Mapping[str, Any], base: str | ModelConfig | None = None
) -> ModelConfig:
    """Rebuilds a config from `config_to_dict`'s output (or a partial dict).

    Args:
        data: Field values; lists are accepted for tuple fields.
        base: The config whose fields `data` overrides: a variant name, a
            `ModelConfig`, or `None` for the defaults (the book's LeNet).

    Returns:
        A validated `ModelConfig`.

    Raises:
        ValueError: On unknown keys (the valid ones are listed) or bad values.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"`data` must be a mapping. Received: data={data!r}")
    if base is None:
        start = ModelConfig()
    elif isinstance(base, ModelConfig):
        start = base
    else:
        start = get_config(base)
    return _with_overrides(start, data)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


def _first_padding_for_keras(kernel_size: int, pad: int) -> str | None:
    # Keras's conv has no book-style int padding. Stride 1 with p = (k - 1) / 2
    # is exactly "same" and p = 0 is "valid"; any other p needs a separate
    # ZeroPadding2D (returns None). All three keep the weight shapes.
    if pad == 0:
        return "valid"
    if kernel_size % 2 == 1 and pad == (kernel_size - 1) // 2:
        return "same"
    return None


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
    if layers not in LAYER_BACKENDS:
        raise ValueError(
            f"`layers` must be one of {list(LAYER_BACKENDS)}. Received: layers={layers!r}"
        )
    config = _with_overrides(config, overrides)
    use_tfconv = layers == "tfconv"
    if use_tfconv:
        conv_cls = tfconv_layers.Conv2D
        pool_cls = tfconv_layers.MaxPool2D if config.pooling == "max" else tfconv_layers.AvgPool2D
    else:
        conv_cls = keras.layers.Conv2D
        pool_cls = (
            keras.layers.MaxPooling2D if config.pooling == "max" else keras.layers.AveragePooling2D
        )
    bn = config.batch_norm
    # With batch norm the activation becomes its own layer after the norm.
    inline_act = None if bn else config.activation

    inputs = keras.Input(shape=config.input_shape, name="image")
    x = inputs
    for i, channels in enumerate(config.conv_channels, start=1):
        if i > 1:
            padding: Any = config.conv_padding
        elif use_tfconv:
            padding = config.first_padding
        else:
            padding = _first_padding_for_keras(config.kernel_size, config.first_padding)
            if padding is None:
                x = keras.layers.ZeroPadding2D(config.first_padding, name="pad1")(x)
                padding = "valid"
        x = conv_cls(
            channels,
            config.kernel_size,
            padding=padding,
            activation=inline_act,
            use_bias=not bn,
            kernel_initializer=config.initializer,
            name=f"conv{i}",
        )(x)
        if bn:
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.Activation(config.activation, name=f"act{i}")(x)
        x = pool_cls(config.pool_size, strides=config.pool_size, name=f"pool{i}")(x)

    x = keras.layers.Flatten(name="flatten")(x)
    if not config.dense_units and config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, name="dropout0")(x)
    for j, units in enumerate(config.dense_units, start=1):
        x = keras.layers.Dense(
            units,
            activation=inline_act,
            use_bias=not bn,
            kernel_initializer=config.initializer,
            name=f"dense{j}",
        )(x)
        if bn:
            x = keras.layers.BatchNormalization(name=f"bn_dense{j}")(x)
            x = keras.layers.Activation(config.activation, name=f"act_dense{j}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{j}")(x)
    outputs = keras.layers.Dense(
        config.num_classes,
        kernel_initializer=config.initializer,
        dtype="float32",
        name="logits",
    )(x)
    return keras.Model(inputs, outputs, name=name or default_name)


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


# --------------------------------------------------------------------------
# Preprocessing and labels carried by a saved model
# --------------------------------------------------------------------------


def find_layer(model: keras.Model, cls: type) -> Any:
    """The first top-level layer of `model` that is a `cls`, or `None`."""
    return next((layer for layer in getattr(model, "layers", []) if isinstance(layer, cls)), None)


def _is_chain(model: keras.Model) -> bool:
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
