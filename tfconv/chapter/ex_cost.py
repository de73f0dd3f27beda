"""The chapter's cost exercises (6.4, 6.5): what a convolution and LeNet cost per example."""

from __future__ import annotations

import math
from typing import Any

from tfconv import models, ops
from tfconv.chapter.checks import check
from tfconv.chapter.printing import PrintFn
from tfconv.models.cost import ModelCost, model_cost


def section_ex_cost(print_fn: PrintFn = print) -> dict[str, Any]:
    """6.4 exercises 2-4 and 6.5 exercise 3: what convolutions and LeNet cost."""
    base = _conv2_cost(print_fn)
    _doubled_channels(base, print_fn)
    _more_padding(print_fn)
    _one_by_one(print_fn)
    cost = _lenet_cost(base, print_fn)
    return {"conv2": base, "lenet": cost}


def _conv2_cost(print_fn: PrintFn) -> ops.ConvCost:
    """Exercise 2: forward and backward cost of LeNet's second convolution, per example."""
    base = ops.conv_cost(6, 16, 14, 14, 5)
    print_fn("conv 6 -> 16 channels, 5x5 kernel, 14x14 input (LeNet's conv2), per example:")
    print_fn(
        f"  forward: {base.forward_macs:,} multiply-adds ({base.forward_flops:,} FLOPs), "
        f"memory {base.forward_bytes:,} bytes"
    )
    print_fn(
        f"  backward: {base.backward_macs:,} multiply-adds (input grad "
        f"{base.backward_input_macs:,} + kernel grad {base.backward_kernel_macs:,}), "
        f"memory {base.backward_bytes:,} bytes"
    )
    check(base.forward_macs == 10 * 10 * 16 * 6 * 25, "conv2 forward MACs")
    check(base.backward_macs == 2 * base.forward_macs, "backward MACs")
    return base


def _doubled_channels(base: ops.ConvCost, print_fn: PrintFn) -> None:
    """Exercise 3: doubling both channel counts quadruples the multiply-adds."""
    doubled = ops.conv_cost(12, 32, 14, 14, 5)
    factor = doubled.forward_macs / base.forward_macs
    print_fn(f"doubling c_i and c_o: x{factor:g} multiply-adds")
    check(factor == 4, f"doubling both channel counts gives x{factor}, expected x4")


def _more_padding(print_fn: PrintFn) -> None:
    """Exercise 3: more padding grows the output, and the cost with its area."""
    padded = ops.conv_cost(6, 16, 14, 14, 5, p=2)
    padded2 = ops.conv_cost(6, 16, 14, 14, 5, p=4)
    print_fn(
        f"padding 2 -> 4: output {padded.output_hw} -> {padded2.output_hw}, "
        f"x{padded2.forward_macs / padded.forward_macs:.3f} multiply-adds"
    )
    check(
        math.isclose(padded2.forward_macs / padded.forward_macs, (18 / 14) ** 2), "padding factor"
    )


def _one_by_one(print_fn: PrintFn) -> None:
    """Exercise 4: a 1x1 kernel costs c_i * c_o * h * w multiply-adds."""
    one = ops.conv_cost(6, 16, 14, 14, 1)
    print_fn(f"1x1 kernel: c_i * c_o * h * w = {one.forward_macs:,} multiply-adds")
    check(one.forward_macs == 6 * 16 * 14 * 14, "1x1 cost")


def _lenet_cost(conv2: ops.ConvCost, print_fn: PrintFn) -> ModelCost:
    """LeNet's forward cost layer by layer, checked against `conv_cost` and Keras's count."""
    model = models.build("lenet")
    cost = model_cost(model)
    print_fn("LeNet, one example, forward:")
    for row in cost.layers:
        print_fn(
            f"  {row.name:8s} {row.kind:6s} {row.output_shape!s:14s} "
            f"MACs {row.macs:>9,}  other ops {row.ops:>6,}  params {row.params:>7,}"
        )
    print_fn(
        f"  total: {cost.macs:,} multiply-adds, {cost.flops:,} FLOPs, {cost.params:,} parameters"
    )
    check(cost.params == model.count_params(), "parameters counted != model.count_params()")
    convs = ops.conv_cost(1, 6, 28, 28, 5, p=2).forward_macs + conv2.forward_macs
    check(sum(r.macs for r in cost.layers if r.kind == "conv") == convs, "LeNet conv MACs")
    check(cost.macs == 416_520, f"LeNet MACs {cost.macs}, expected 416,520")
    return cost
