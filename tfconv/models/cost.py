"""The one FLOP counter: what one example costs a model, layer by layer.

`model_cost` counts the forward pass (the chapter's exercise and `tfconv
chapter`); `training_flops_per_example` adds the backward pass (the
benchmarks' roofline). Both resolve each convolution's padding the way the
layer itself does and price it with `tfconv.ops.conv_cost`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras

from tfconv import _core, ops
from tfconv.layers.kinds import is_conv, is_pool


@dataclasses.dataclass(frozen=True)
class LayerCost:
    """One layer's share of `model_cost`.

    Attributes:
        name: Layer name.
        kind: `"conv"`, `"dense"`, `"pool"` or `"batchnorm"`.
        macs: Multiply-adds (convolutions and dense layers).
        ops: Other arithmetic: pooling (one per window cell and output) and
            batch normalisation at inference (two per value).
        params: Parameters of the layer.
        output_shape: Output shape without the batch axis.
    """

    name: str
    kind: str
    macs: int
    ops: int
    params: int
    output_shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ModelCost:
    """The forward cost of one example, from `model_cost`.

    Attributes:
        layers: One `LayerCost` per layer that computes.
        macs: Total multiply-adds.
        flops: `2 * macs` plus the other operations.
        params: Total parameters of the counted layers.
    """

    layers: tuple[LayerCost, ...]
    macs: int
    flops: int
    params: int


def _conv_layer_cost(layer: Any) -> tuple[int, int]:
    """(MACs, params) of one example through a conv layer, via `ops.conv_cost`."""
    spatial = (
        slice(2, 4) if getattr(layer, "data_format", None) == "channels_first" else slice(1, 3)
    )
    h, w = (int(d) for d in layer.input.shape[spatial])
    # The kernel's input axis is per group, so grouped convolutions are priced
    # at `c_i / groups` products per output, as they compute.
    k_h, k_w, c_i, c_o = (int(d) for d in layer.kernel.shape)
    out_hw = tuple(int(d) for d in layer.output.shape[spatial])
    strides = tuple(layer.strides)
    dilation = tuple(getattr(layer, "dilation_rate", (1, 1)))
    pads = _core.resolve_padding(
        _core.normalize_padding(layer.padding), (h, w), (k_h, k_w), strides
    )
    bias = bool(layer.use_bias)
    if dilation == (1, 1) and pads[0][0] == pads[0][1] and pads[1][0] == pads[1][1]:
        cost = ops.conv_cost(
            c_i, c_o, h, w, (k_h, k_w), (pads[0][0], pads[1][0]), strides, bias=bias
        )
        if cost.output_hw == out_hw:
            return cost.forward_macs, cost.params
    # Uneven padding or dilation: every output still takes one window of MACs.
    macs = out_hw[0] * out_hw[1] * c_o * c_i * k_h * k_w
    return macs, c_o * c_i * k_h * k_w + (c_o if bias else 0)


def model_cost(model: Any) -> ModelCost:
    """Multiply-adds and FLOPs of one example's forward pass through a chain model.

    Convolutions are counted with `tfconv.ops.conv_cost`, dense layers as
    `inputs x units` multiply-adds, pooling as one operation per window cell
    and output (adds for the average, comparisons for the maximum) and batch
    normalisation as a scale and a shift per value. Activations, flattening
    and dropout are not counted.

    Args:
        model: A built Keras model, e.g. from `tfconv.models.build`.

    Returns:
        A `ModelCost`.

    Example:

    >>> cost = model_cost(tfconv.models.build("lenet"))
    >>> cost.macs, cost.flops
    (416520, 839344)
    """

    rows = []
    for layer in model.layers:
        out_shape = (
            tuple(int(d) for d in layer.output.shape[1:]) if layer.output is not None else ()
        )
        if is_conv(layer):
            macs, params = _conv_layer_cost(layer)
            rows.append(LayerCost(layer.name, "conv", macs, 0, params, out_shape))
        elif isinstance(layer, keras.layers.Dense):
            n_in = int(layer.input.shape[-1])
            macs = n_in * layer.units
            params = macs + (layer.units if layer.use_bias else 0)
            rows.append(LayerCost(layer.name, "dense", macs, 0, params, out_shape))
        elif is_pool(layer):
            k_h, k_w = tuple(layer.pool_size)
            rows.append(
                LayerCost(layer.name, "pool", 0, math.prod(out_shape) * k_h * k_w, 0, out_shape)
            )
        elif isinstance(layer, keras.layers.BatchNormalization):
            rows.append(
                LayerCost(
                    layer.name,
                    "batchnorm",
                    0,
                    2 * math.prod(out_shape),
                    layer.count_params(),
                    out_shape,
                )
            )
    macs = sum(r.macs for r in rows)
    return ModelCost(
        layers=tuple(rows),
        macs=macs,
        flops=2 * macs + sum(r.ops for r in rows),
        params=sum(r.params for r in rows),
    )


def training_flops_per_example(model: Any) -> dict[str, int]:
    """Forward and training FLOPs of one example through `model`'s conv and dense layers.

    The backward pass of a convolution or dense layer takes two products the
    size of the forward one (the input's and the weights' gradients), so
    training costs three forward passes. Pooling, activations and the loss are
    memory-bound and left out.

    Returns:
        `{"forward": flops, "training": flops}`.
    """
    macs = sum(row.macs for row in model_cost(model).layers if row.kind in ("conv", "dense"))
    return {"forward": 2 * macs, "training": 6 * macs}
