"""The search space: which values each hyperparameter may take, and `declare`,
the one mapping from hyperparameters to `TrainConfig`/`ModelConfig` fields.

Hyperparameter names are the field names of `tfconv.train.TrainConfig` and
`tfconv.models.ModelConfig`, optionally behind a KerasTuner name scope for the
choice they depend on: the field is the part after the last `/`.

| name | values | field |
| --- | --- | --- |
| `conv_channels` | `"8,16"` ... `"32,64,128,128"` (2-4 blocks) | `conv_channels` |
| `kernel_size` | 3, 5, 7 | `kernel_size` (`first_padding` = k // 2) |
| `conv_padding` | `"same"`, `"valid"` (2-block stacks only) | `conv_padding` |
| `pooling` | `"max"`, `"avg"` | `pooling` |
| `activation` | `"relu"`, `"gelu"`, `"sigmoid"` | `activation` |
| `dense_units` | `"64"` ... `"256,128,64"` (1-3 layers) | `dense_units` |
| `batch_norm` | False, True | `batch_norm` |
| `dropout` | 0.0-0.5, step 0.1 | `dropout` |
| `initializer` | `"he_normal"`, `"glorot_uniform"` | `initializer` |
| `optimizer` | `"adam"`, `"sgd"` | `optimizer` |
| `adam/lr` | 1e-4-1e-2, log (Adam only) | `lr` |
| `sgd/lr` | 1e-2-1.0, log (SGD only) | `lr` |
| `sgd/momentum` | 0.0, 0.5, 0.9 (SGD only) | `momentum` |
| `batch_size` | 64, 128, 256 | `batch_size` |
| `tuner/epochs` | Hyperband's own | `epochs` |

The tuple fields are single choices of comma-separated widths (KerasTuner
values are scalars): a stack doubles its width block by block (capped at 128),
a dense head halves it layer by layer. Stacks of 3 or more blocks use `"same"`
padding so that they fit 28×28; the first convolution pads by `k // 2` so that
it keeps the image size, as the book's 5×5 LeNet does.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner


def _widths(first: int, depth: int, factor: float, cap: int = 128) -> str:
    return ",".join(str(max(1, min(cap, int(first * factor**i)))) for i in range(depth))


def parse_widths(value: str) -> tuple[int, ...]:
    """`"16,32"` -> `(16, 32)`: a width choice as the config's tuple."""
    return tuple(int(v) for v in str(value).split(","))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values each hyperparameter may take (see the module docstring).

    Every field but `dropout` and `lr` is a tuple of choices; tuple-valued
    model fields are comma-separated strings such as `"16,32,64"`. The
    defaults (what grid search tries first) are `tfconv.models`'s
    `lenet_modern` wherever the space holds its values.

    Args:
        conv_channels: Convolution stacks, one string of widths per choice.
        kernel_size: Convolution window sides.
        conv_padding: Padding of later convolutions, tuned for 2-block stacks
            only (deeper ones need `"same"` to fit 28×28).
        pooling: Pooling kinds.
        activation: Activation functions.
        dense_units: Dense heads, one string of widths per choice.
        batch_norm: Batch-norm settings.
        dropout: `(min, max, step)` of the dropout rate.
        initializer: Kernel initializers.
        optimizer: Optimizers.
        lr: Per optimizer, `(min, max)` of the log-uniform learning rate.
        momentum: SGD momentum values.
        batch_size: Batch sizes.
    """

    conv_channels: tuple[str, ...] = tuple(
        _widths(base, depth, 2) for depth in (2, 3, 4) for base in (8, 16, 32)
    )
    kernel_size: tuple[int, ...] = (3, 5, 7)
    conv_padding: tuple[str, ...] = ("same", "valid")
    pooling: tuple[str, ...] = ("max", "avg")
    activation: tuple[str, ...] = ("relu", "gelu", "sigmoid")
    dense_units: tuple[str, ...] = tuple(
        _widths(first, depth, 0.5, cap=256) for depth in (1, 2, 3) for first in (64, 128, 256)
    )
    batch_norm: tuple[bool, ...] = (False, True)
    dropout: tuple[float, float, float] = (0.0, 0.5, 0.1)
    initializer: tuple[str, ...] = ("he_normal", "glorot_uniform")
    optimizer: tuple[str, ...] = ("adam", "sgd")
    lr: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: {"adam": (1e-4, 1e-2), "sgd": (1e-2, 1.0)}
    )
    momentum: tuple[float, ...] = (0.0, 0.5, 0.9)
    batch_size: tuple[int, ...] = (64, 128, 256)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for the search folder's marker)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Mapping):
                value = {k: list(v) for k, v in value.items()}
            out[field.name] = list(value)
        return out


# lenet_modern's settings: a sensible first trial for grid search.
_PREFERRED = {
    "conv_channels": "16,32,64",
    "kernel_size": 3,
    "conv_padding": "same",
    "pooling": "max",
    "activation": "relu",
    "dense_units": "128",
    "batch_norm": True,
    "initializer": "he_normal",
    "optimizer": "adam",
    "momentum": 0.9,
    "batch_size": 128,
}


def _default(name: str, values: Sequence[Any]) -> Any:
    preferred = _PREFERRED.get(name)
    return preferred if preferred in values else values[0]


def _choice(hp: keras_tuner.HyperParameters, name: str, values: Sequence[Any]) -> Any:
    values = list(values)
    return hp.Choice(name, values, default=_default(name, values))


def declare(hp: keras_tuner.HyperParameters, space: SearchSpace | None = None) -> dict[str, Any]:
    """Declares the search space on `hp` and returns the fields it stands for.

    The one place that maps hyperparameters to configuration fields: the
    hypermodel builds from it, and the results table and `best_config.json`
    are written from it, so they cannot disagree. Calling it on a trial's
    `HyperParameters` (whose values are set) just reads the values back.

    Args:
        hp: The `HyperParameters` to declare on (and read from).
        space: The search space; default `SearchSpace()`.

    Returns:
        `TrainConfig` fields (`optimizer`, `lr`, `momentum`, `batch_size`)
        and a `"model"` dict of `ModelConfig` overrides (lists for tuples).
    """
    space = space or SearchSpace()
    # The declaration order is the sampling order (random draws, grid
    # enumeration), so the model's names come first, as they always have.
    model = _declare_model(hp, space)
    optimizer, lr, momentum = _declare_optimizer(hp, space)
    return {
        "optimizer": optimizer,
        "lr": lr,
        "momentum": momentum,
        "batch_size": int(_choice(hp, "batch_size", space.batch_size)),
        "model": model,
    }


def _declare_model(hp: keras_tuner.HyperParameters, space: SearchSpace) -> dict[str, Any]:
    """The `ModelConfig` overrides, declaring the architecture's names."""
    channels = parse_widths(_choice(hp, "conv_channels", space.conv_channels))
    kernel = int(_choice(hp, "kernel_size", space.kernel_size))
    padding = _declare_padding(hp, space)
    model = {
        "conv_channels": list(channels),
        "kernel_size": kernel,
        "first_padding": kernel // 2,
        "conv_padding": padding if len(channels) <= 2 and padding else "same",
        "pooling": _choice(hp, "pooling", space.pooling),
        "activation": _choice(hp, "activation", space.activation),
        "dense_units": list(parse_widths(_choice(hp, "dense_units", space.dense_units))),
        "batch_norm": _declare_batch_norm(hp, space),
        "initializer": _choice(hp, "initializer", space.initializer),
    }
    low, high, step = space.dropout
    model["dropout"] = round(float(hp.Float("dropout", low, high, step=step, default=low)), 6)
    return model


def _declare_padding(hp: keras_tuner.HyperParameters, space: SearchSpace) -> str | None:
    shallow = [c for c in space.conv_channels if len(parse_widths(c)) <= 2]
    if not shallow:
        return None
    # Only a 2-block stack fits 28×28 with "valid" padding at every kernel size.
    with hp.conditional_scope("conv_channels", shallow):
        return _choice(hp, "conv_padding", space.conv_padding)


def _declare_batch_norm(hp: keras_tuner.HyperParameters, space: SearchSpace) -> bool:
    if len(space.batch_norm) > 1:
        return bool(hp.Boolean("batch_norm", default=_default("batch_norm", space.batch_norm)))
    return bool(hp.Fixed("batch_norm", bool(space.batch_norm[0])))


def _declare_optimizer(
    hp: keras_tuner.HyperParameters, space: SearchSpace
) -> tuple[str, float, float]:
    """`(optimizer, lr, momentum)`, declaring one learning rate per optimizer."""
    optimizer = _choice(hp, "optimizer", space.optimizer)
    lrs: dict[str, Any] = {}
    momentum = None
    for name in space.optimizer:
        # One learning-rate range per optimizer (SGD wants ~100x Adam's), and
        # one name per range: KerasTuner mixes up two hyperparameters that
        # share a name, so the optimizer's name scope tells them apart.
        with hp.conditional_scope("optimizer", [name]), hp.name_scope(name):
            low, high = space.lr[name]
            lrs[name] = hp.Float("lr", low, high, sampling="log", default=math.sqrt(low * high))
            if name == "sgd":
                momentum = _choice(hp, "momentum", space.momentum)
    return optimizer, float(lrs[optimizer]), float(momentum or 0.0)
