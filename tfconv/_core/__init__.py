"""The sliding-window core shared by `tfconv.ops` and `tfconv.layers` (private).

Everything here works on channels-last (NHWC) tensors. Nothing calls
TensorFlow's or Keras's convolution or pooling kernels: windows are gathered
with `tf.gather` (im2col), convolution is one matrix product over the
gathered windows (or Winograd's 16, or a sum of offset views for depthwise
kernels), and pooling is a separable reduction (columns, then rows). All of
these lower to TFLite builtin ops.

Modules, lowest first:
- `shapes`: argument normalisation and padding/output-size arithmetic;
- `switches`: run-time switches (XLA, Winograd's domain), `export_graph()`
  and the per-shape function caches it swaps;
- `windows`: padding, strided views, their scatters, `col2im`;
- `finite`: the non-finite checks behind the fast paths' exact fallbacks;
- `im2col`, `depthwise`, `winograd`, `conv_dynamic`: the convolution paths,
  and `conv`: `conv2d`, which picks one;
- `pool_rules`, `pool_tiled`, `pool_dynamic`: pooling's reductions and
  paths, and `pool`: `pool2d`, which picks one.

The names below are what the rest of the package uses. Not re-exported, so
that a patch of a stale copy fails loudly instead of changing nothing: the
switches (set them on `tfconv._core.switches`, where they are read) and the
functions tests swap (`conv.conv2d`, which the layer calls through its module,
and `pool_tiled.pool_tiled`).
"""

from tfconv._core.conv import conv2d_valid
from tfconv._core.im2col import choose_block
from tfconv._core.pool import pool2d
from tfconv._core.shapes import (
    Pads,
    normalize_data_format,
    normalize_padding,
    normalize_pair,
    output_length,
    resolve_padding,
    window_output_hw,
)
from tfconv._core.switches import export_graph
from tfconv._core.winograd import winograd_eligible

__all__ = [
    "Pads",
    "choose_block",
    "conv2d_valid",
    "export_graph",
    "normalize_data_format",
    "normalize_padding",
    "normalize_pair",
    "output_length",
    "pool2d",
    "resolve_padding",
    "window_output_hw",
    "winograd_eligible",
]
