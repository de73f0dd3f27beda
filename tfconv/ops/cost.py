"""Output sizes and costs of a convolution, by the book's formulas (pure functions).

`conv_output_shape` gives a window's output size (through `output_length`,
the core's one formula); `conv_cost` the multiply-adds and float32 memory of
a convolutional layer, as a `ConvCost`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfconv._core.shapes import normalize_pair, output_length, positive_int


def conv_output_shape(
    input_hw: tuple[int, int],
    kernel_size: int | tuple[int, int],
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """Output height and width of a convolution or pooling window (pure).

    Along each axis the book's formula `(n - k + 2 p + s) // s`, where `p` is
    the padding on each side (so `2 p` rows or columns are added in total).

    Args:
        input_hw: Input `(h, w)`.
        kernel_size: Window size, an int or `(k_h, k_w)`.
        padding: Padding per side, an int or `(p_h, p_w)`. Defaults to 0.
        stride: An int or `(s_h, s_w)`. Defaults to 1.

    Returns:
        The output `(h_o, w_o)` as a tuple of ints.

    Example:

    >>> conv_output_shape((8, 8), (3, 5), padding=(0, 1), stride=(3, 4))
    (2, 2)
    """
    n_hw = normalize_pair(input_hw, "input_hw")
    k_hw = normalize_pair(kernel_size, "kernel_size")
    p_hw = normalize_pair(padding, "padding", minimum=0)
    s_hw = normalize_pair(stride, "stride")
    out = tuple(output_length(n_hw[a], k_hw[a], 2 * p_hw[a], s_hw[a]) for a in range(2))
    if min(out) < 1:
        raise ValueError(
            f"`kernel_size` {k_hw} is larger than the padded input "
            f"({n_hw[0] + 2 * p_hw[0]}, {n_hw[1] + 2 * p_hw[1]}): the output would be "
            f"{out}. Received: kernel_size={kernel_size!r}"
        )
    return out  # type: ignore[return-value]


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ConvCost:
    """What one convolutional layer costs, from `conv_cost`.

    A multiply-add (MAC) is one multiplication and one addition, so FLOPs are
    twice the MACs. Memory counts float32 values (4 bytes each).

    Attributes:
        output_hw: Output `(h_o, w_o)`.
        params: Kernel weights plus one bias per output channel.
        forward_macs: `batch * c_o * h_o * w_o * c_i * k_h * k_w`.
        backward_input_macs: MACs of the gradient with respect to the input.
        backward_kernel_macs: MACs of the gradient with respect to the kernel.
        backward_macs: Their sum, twice `forward_macs`.
        input_bytes: The input activations.
        output_bytes: The output activations.
        param_bytes: Kernel and bias.
        forward_bytes: What the forward pass holds: input, parameters, output.
        backward_bytes: What the backward pass holds: the forward pass's
            tensors plus the gradients of output, input and parameters.
    """

    output_hw: tuple[int, int]
    params: int
    forward_macs: int
    backward_input_macs: int
    backward_kernel_macs: int
    input_bytes: int
    output_bytes: int
    param_bytes: int

    @property
    def backward_macs(self) -> int:
        return self.backward_input_macs + self.backward_kernel_macs

    @property
    def forward_flops(self) -> int:
        return 2 * self.forward_macs

    @property
    def backward_flops(self) -> int:
        return 2 * self.backward_macs

    @property
    def forward_bytes(self) -> int:
        return self.input_bytes + self.param_bytes + self.output_bytes

    @property
    def backward_bytes(self) -> int:
        # dY has the output's shape, dX the input's and dK, db the parameters'.
        return 2 * self.forward_bytes

    def as_dict(self) -> dict[str, Any]:
        """All fields and derived totals as a plain dict."""
        names = [f.name for f in dataclasses.fields(self)]
        derived = ["backward_macs", "forward_flops", "backward_flops"]
        derived += ["forward_bytes", "backward_bytes"]
        return {name: getattr(self, name) for name in names + derived}


def conv_cost(
    c_i: int,
    c_o: int,
    h: int,
    w: int,
    k: int | tuple[int, int],
    p: int | tuple[int, int] = 0,
    s: int | tuple[int, int] = 1,
    batch: int = 1,
    bias: bool = True,
) -> ConvCost:
    """Multiply-adds and float32 memory of a convolutional layer (pure).

    Answers the chapter's exercise on the cost of a `c_o x c_i x k_h x k_w`
    convolution of a `c_i x h x w` input with padding `(p_h, p_w)` and stride
    `(s_h, s_w)`. Every output value takes `c_i * k_h * k_w` multiply-adds (the
    bias add takes the place of the first product's add), padded cells
    included, as a direct implementation computes them. The backward pass
    needs two such products: every forward product `x * k` contributes
    `dy * k` to the input's gradient and `dy * x` to the kernel's, so each
    costs as many MACs as the forward pass (the bias gradient, a sum of `dy`,
    is not counted).

    Args:
        c_i: Input channels.
        c_o: Output channels.
        h: Input height.
        w: Input width.
        k: Kernel size, an int or `(k_h, k_w)`.
        p: Padding per side, an int or `(p_h, p_w)`. Defaults to 0.
        s: Stride, an int or `(s_h, s_w)`. Defaults to 1.
        batch: Examples per batch; costs and activations scale with it.
        bias: Whether the layer has a bias per output channel.

    Returns:
        A `ConvCost`.

    Example:

    >>> cost = conv_cost(1, 6, 28, 28, 5, p=2)  # LeNet's first layer
    >>> cost.output_hw, cost.forward_macs, cost.params
    ((28, 28), 117600, 156)
    """
    for name, value in (("c_i", c_i), ("c_o", c_o), ("batch", batch)):
        positive_int(value, name)
    k_h, k_w = normalize_pair(k, "k")
    h_o, w_o = conv_output_shape((h, w), (k_h, k_w), p, s)
    window = c_i * k_h * k_w
    forward = batch * c_o * h_o * w_o * window
    params = c_o * window + (c_o if bias else 0)
    return ConvCost(
        output_hw=(h_o, w_o),
        params=params,
        forward_macs=forward,
        backward_input_macs=forward,
        backward_kernel_macs=forward,
        input_bytes=4 * batch * c_i * h * w,
        output_bytes=4 * batch * c_o * h_o * w_o,
        param_bytes=4 * params,
    )
