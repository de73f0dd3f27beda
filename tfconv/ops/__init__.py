"""The chapter's convolution and pooling operations as differentiable TF functions.

These functions use the book's channels-first shapes: a single-channel image is
`(h, w)`, a multi-channel image `(c, h, w)` and a multi-input, multi-output
kernel `(c_o, c_i, k_h, k_w)`. They are vectorised (no per-pixel Python loops)
and all go through `tfconv._core`, the same sliding-window core that the
layers use, so the book's worked examples and the layers agree by
construction. Inputs may be NumPy arrays, nested lists or tensors; results are
`tf.Tensor`s. Integer inputs are computed in `float32`; floating inputs keep
their dtype.

Modules: `correlation` (the `corr2d` family), `pooling` (`pool2d`), `cost`
(`conv_output_shape`, `conv_cost`), `inputs` (argument conversion and checks).
"""

from tfconv.ops.correlation import (
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    corr2d_multi_in_out_1x1,
)
from tfconv.ops.cost import ConvCost, conv_cost, conv_output_shape
from tfconv.ops.pooling import pool2d

__all__ = [
    "ConvCost",
    "conv_cost",
    "conv_output_shape",
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "pool2d",
]

# The public path, as Keras's `keras_export` gives its names: `help()`, reprs
# and doctest (which collects a module's own objects) see `tfconv.ops.corr2d`.
for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
