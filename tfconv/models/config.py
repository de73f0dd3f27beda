"""`ModelConfig`, the validated knobs of the LeNet template, and its choices.

The same field names serve `build(..., **overrides)`, the JSON `--config`
file of training (`config_to_dict`) and the hyperparameter names of a
KerasTuner search; the choice tuples here are the one list of valid values
for each of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tfconv import _core
from tfconv.utils.checks import (
    check_choice,
    check_flag,
    check_int,
    check_int_tuple,
    check_number,
)

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


def _check_input_shape(value: Any) -> tuple[int, int, int]:
    shape = check_int_tuple("input_shape", value)
    if len(shape) != 3:
        raise ValueError(
            "`input_shape` must be (height, width, channels) positive ints. "
            f"Received: input_shape={value!r}"
        )
    return shape  # type: ignore[return-value]


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

        set_("conv_channels", check_int_tuple("conv_channels", self.conv_channels))
        set_("kernel_size", check_int("kernel_size", self.kernel_size))
        set_("first_padding", check_int("first_padding", self.first_padding, minimum=0))
        set_("conv_padding", check_choice("conv_padding", self.conv_padding, CONV_PADDINGS))
        set_("pooling", check_choice("pooling", self.pooling, POOLINGS))
        set_("pool_size", check_int("pool_size", self.pool_size))
        set_("activation", check_choice("activation", self.activation, ACTIVATIONS))
        set_("dense_units", check_int_tuple("dense_units", self.dense_units, allow_empty=True))
        set_("batch_norm", check_flag("batch_norm", self.batch_norm))
        set_(
            "dropout", float(check_number("dropout", self.dropout, 0, maximum=1, strict_max=True))
        )
        set_("initializer", check_choice("initializer", self.initializer, INITIALIZERS))
        set_("num_classes", check_int("num_classes", self.num_classes, minimum=2))
        set_("input_shape", _check_input_shape(self.input_shape))
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
    out = _core.output_length
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


def field_names() -> list[str]:
    """The names of `ModelConfig`'s fields, in order."""
    return [f.name for f in dataclasses.fields(ModelConfig)]


def with_overrides(config: ModelConfig, overrides: Mapping[str, Any]) -> ModelConfig:
    """`config` with some fields replaced (and the result validated).

    Raises:
        ValueError: On an unknown field name (the valid ones are listed) or a
            bad value.
    """
    unknown = sorted(set(overrides) - set(field_names()))
    if unknown:
        raise ValueError(
            f"Unknown ModelConfig field(s) {unknown}. Valid fields: {field_names()}. "
            f"Received: overrides={dict(overrides)!r}"
        )
    return dataclasses.replace(config, **overrides) if overrides else config


def config_to_dict(config: ModelConfig) -> dict[str, Any]:
    """A JSON-friendly dict of a config (tuples become lists).

    Args:
        config: A `ModelConfig`.

    Returns:
        A dict with one key per field, e.g. for a training `--config` file;
        `config_from_dict` reads it back.
    """
    if not isinstance(config, ModelConfig):
        raise ValueError(f"`config` must be a ModelConfig. Received: config={config!r}")
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(config).items()
    }
