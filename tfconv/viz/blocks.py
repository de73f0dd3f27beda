"""A chain model's convolution blocks, and running the model over images to read them out.

Blocks are found by layer type, not by name, so tfconv's layers and Keras's
are read alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfconv.layers.kinds import is_conv, is_pool


@dataclasses.dataclass(frozen=True)
class ConvBlock:
    """One convolution block of a chain model.

    Attributes:
        conv: The convolution layer.
        activated: The layer whose output is the block's feature map after
            its activation: the convolution itself when the activation is
            inline, else the last batch-norm or activation layer after it.
        pool: The pooling layer closing the block, or `None`.
    """

    conv: Any
    activated: Any
    pool: Any | None


def conv_blocks(model: Any) -> list[ConvBlock]:
    """The convolution blocks of a chain model, in order.

    A block starts at a convolution layer, takes in the batch-norm and
    activation layers that follow it and ends at the next pooling layer (or
    at any other layer, leaving `pool=None`).

    Args:
        model: A Keras model whose layers form a chain, e.g. from
            `tfconv.models.build`.

    Returns:
        A list of `ConvBlock`; empty for a model without convolutions.
    """
    blocks: list[ConvBlock] = []
    current: dict[str, Any] | None = None
    for layer in model.layers:
        if is_conv(layer):
            if current is not None:
                blocks.append(ConvBlock(**current))
            current = {"conv": layer, "activated": layer, "pool": None}
        elif current is None:
            continue
        elif isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Activation)):
            current["activated"] = layer
        else:
            if is_pool(layer):
                current["pool"] = layer
            blocks.append(ConvBlock(**current))
            current = None
    if current is not None:
        blocks.append(ConvBlock(**current))
    return blocks


def require_blocks(model: Any) -> list[ConvBlock]:
    """`conv_blocks(model)`, raising `ValueError` when there is none."""
    blocks = conv_blocks(model)
    if not blocks:
        raise ValueError(f"The model has no Conv2D layer. Received: model={model.name!r}")
    return blocks


def _describe_activation(block: ConvBlock) -> str:
    layer = block.activated
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) if act is not None else None
    if name in (None, "linear"):
        return layer.name
    return f"{block.conv.name} + {name}"


def model_inputs(model: Any) -> Any:
    """The model's inputs, for building a `keras.Model` on the same graph."""
    # A lone input given as a tensor, not a one-element list, so that calling
    # the extractor with an array matches its input structure.
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def feature_extractor(model: Any) -> tuple[Any, list[str]]:
    """A model mapping images to the feature maps of every convolution block.

    Args:
        model: A functional chain model, e.g. from `tfconv.models.build` or
            loaded from a run's `model.keras`.

    Returns:
        `(extractor, labels)`: a `keras.Model(model.inputs, outputs)` whose
        outputs are, per block, the map after the activation and (when the
        block pools) after the pooling; `labels` names each output, e.g.
        `"conv1 + sigmoid"` and `"pool1"`.

    Raises:
        ValueError: If the model has no convolution layer.
    """
    outputs, labels = [], []
    for block in require_blocks(model):
        outputs.append(block.activated.output)
        labels.append(_describe_activation(block))
        if block.pool is not None:
            outputs.append(block.pool.output)
            labels.append(block.pool.name)
    return keras.Model(model_inputs(model), outputs, name=f"{model.name}_features"), labels


def as_batch(x: Any) -> np.ndarray:
    """Images as a float32 `(N, H, W, 1)` batch (a `(H, W)` image becomes N=1)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[..., None] if x.shape[-1] != 1 else x[None]
    if x.ndim != 4:
        raise ValueError(f"Expected images of shape (N, H, W[, 1]). Received: shape={x.shape}")
    return x


def predict_maps(extractor: Any, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    """The extractor's outputs for every image in `x`, as float32 arrays."""
    # One traced function per call: eager calls would rebuild tfconv's inner
    # functions for every batch, and `predict` costs more to set up than the
    # few images drawn here take. The last batch is padded to the full size so
    # that every call has one shape, hence one trace.
    forward = tf.function(lambda batch: extractor(batch, training=False))
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size]
        n = len(batch)
        if len(x) > batch_size and n < batch_size:
            padding = np.zeros((batch_size - n, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, padding])
        maps = forward(tf.constant(batch))
        if not isinstance(maps, (list, tuple)):
            maps = [maps]
        parts.append([np.asarray(m, dtype=np.float32)[:n] for m in maps])
    return [np.concatenate(column) for column in zip(*parts, strict=True)]


def predict_labels(model: Any, x: Any, batch_size: int = 512) -> np.ndarray:
    """The model's predicted class for each image.

    Args:
        model: A classifier returning one logit (or probability) per class.
        x: Images shaped as the model expects, `(N, H, W, 1)`.
        batch_size: Examples per forward pass.

    Returns:
        An int64 array of shape `(N,)`.
    """
    logits = model.predict(as_batch(x), batch_size=batch_size, verbose=0)
    return np.argmax(np.asarray(logits, dtype=np.float32), axis=-1).astype(np.int64)
