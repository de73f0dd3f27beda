"""The kernels of one convolution layer, drawn as a grid of images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tfconv.utils.figures import hide_ticks, new_figure
from tfconv.viz.blocks import require_blocks


def _kernel_grid(c_i: int, c_o: int, max_kernels: int) -> tuple[list[tuple[int, int]], int, int]:
    """The `(output, input)` slices drawn, and the grid's rows and columns."""
    if c_i == 1:
        pairs = [(o, 0) for o in range(min(c_o, max_kernels))]
        ncols = min(len(pairs), 8)
        return pairs, math.ceil(len(pairs) / ncols), ncols
    # One row per input channel, one column per output channel, clipped.
    ncols = min(c_o, 8)
    nrows = min(c_i, max(1, max_kernels // ncols))
    return [(o, i) for i in range(nrows) for o in range(ncols)], nrows, ncols


def plot_kernels(model: Any, block: int = 0, max_kernels: int = 64) -> Any:
    """Every kernel of one convolution layer (the first by default) as a grid of images.

    The colour scale is symmetric around zero (diverging colormap,
    `vmin = -vmax`) and shared by all kernels, so that the sign and the
    relative size of every weight can be read off; red is positive, blue
    negative.

    Args:
        model: A model with at least one convolution layer.
        block: Which convolution layer, counted from 0.
        max_kernels: Draw at most this many `(output, input)` kernel slices.

    Returns:
        The matplotlib `Figure`.
    """
    blocks = require_blocks(model)
    if not 0 <= block < len(blocks):
        raise ValueError(f"`block` must be in [0, {len(blocks)}). Received: block={block!r}")
    conv = blocks[block].conv
    kernel = np.asarray(conv.kernel, dtype=np.float32)  # (k_h, k_w, c_i, c_o)
    k_h, k_w, c_i, c_o = kernel.shape
    pairs, nrows, ncols = _kernel_grid(c_i, c_o, max_kernels)
    vmax = float(np.abs(kernel).max()) or 1.0
    fig = new_figure(
        figsize=(1.35 * ncols + 1.6, max(3.0, 1.45 * nrows + 1.1)), layout="constrained"
    )
    axes = fig.subplots(nrows, ncols, squeeze=False)
    image = None
    for ax, (o, i) in zip(axes.ravel(), pairs, strict=False):
        image = ax.imshow(
            kernel[:, :, i, o], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest"
        )
        ax.set_title(f"kernel {o}" if c_i == 1 else f"out {o} / in {i}", fontsize=9)
        hide_ticks(ax)
    for ax in axes.ravel()[len(pairs) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.85, label="weight")
    shown = "" if len(pairs) == c_o * c_i else f", {len(pairs)} shown"
    fig.suptitle(
        f"{model.name}: kernels of {conv.name} ({c_o} x {c_i} x {k_h}x{k_w}{shown})", fontsize=11
    )
    return fig
