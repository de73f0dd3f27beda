"""Mean activations per class: which channels tell two (or more) classes apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import matplotlib
import numpy as np

from tfconv.utils.figures import hide_ticks, new_figure
from tfconv.viz.blocks import as_batch, model_inputs, predict_maps, require_blocks


def class_activations(
    model: Any, x: Any, y: Any, classes: Sequence[int], max_per_class: int = 1000
) -> dict[int, list[np.ndarray]]:
    """Mean feature maps after each block's activation, per class.

    Args:
        model: A model with at least one convolution layer.
        x: Images `(N, H, W, 1)` as the model takes them.
        y: Integer labels `(N,)`.
        classes: Class indices.
        max_per_class: Average over at most this many images of a class.

    Returns:
        `{class: [mean map of block 1, mean map of block 2, ...]}`, each map
        `(h, w, channels)` averaged over the class's images.

    Raises:
        ValueError: If a class has no image in `y`.
    """
    x, y = as_batch(x), np.asarray(y)
    blocks = require_blocks(model)
    extractor = keras.Model(model_inputs(model), [b.activated.output for b in blocks])
    picked = []
    for c in classes:
        idx = np.flatnonzero(y == c)[:max_per_class]
        if idx.size == 0:
            raise ValueError(f"No image of class {c} among the {len(y)} labels given.")
        picked.append(idx)
    # One pass over all the classes' images, then the means per class.
    maps = predict_maps(extractor, x[np.concatenate(picked)])
    bounds = np.cumsum([0] + [len(idx) for idx in picked])
    return {
        int(c): [m[bounds[k] : bounds[k + 1]].mean(axis=0) for m in maps]
        for k, c in enumerate(classes)
    }


def plot_activations(
    model: Any,
    x: Any,
    y: Any,
    classes: Sequence[int],
    class_names: Sequence[str],
    num_examples: int = 4,
    max_channels: int = 16,
) -> Any:
    """Mean first- and second-layer activations of a few classes, side by side.

    Each class gets a row with example images and the mean first-layer
    feature map of every channel; below, bar charts compare the classes'
    mean activation per channel in the first and the second convolution
    layer (after the activation). Channels where the bars differ are the
    ones that tell the classes apart.

    Args:
        model: A model with at least one convolution layer.
        x: Images `(N, H, W, 1)` as the model takes them.
        y: Integer labels `(N,)`.
        classes: Two or more class indices, e.g. `[2, 4]` (pullover, coat).
        class_names: Name of every class, indexed by label.
        num_examples: Example images drawn per class.
        max_channels: First-layer channels drawn as maps.

    Returns:
        The matplotlib `Figure`.
    """
    x, y = as_batch(x), np.asarray(y)
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("`classes` must name at least one class. Received: classes=[]")
    means = class_activations(model, x, y, classes)
    n_maps = min(means[classes[0]][0].shape[-1], max_channels)
    fig = new_figure(
        figsize=(0.95 * (num_examples + 1 + n_maps) + 1.0, 1.2 * len(classes) + 3.4),
        layout="constrained",
    )
    # Two subfigures, so that the bar charts' labels do not push apart the
    # columns of images above them.
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.2 * len(classes), 3.0])
    _draw_class_rows(top, x, y, means, classes, class_names, num_examples, n_maps)
    _draw_channel_bars(bottom, means, classes, class_names)
    names = " vs ".join(class_names[c] for c in classes)
    fig.suptitle(f"{model.name}: mean activations, {names} (maps: first conv layer)", fontsize=11)
    return fig


def _draw_class_rows(
    subfig: Any,
    x: np.ndarray,
    y: np.ndarray,
    means: dict[int, list[np.ndarray]],
    classes: list[int],
    class_names: Sequence[str],
    num_examples: int,
    n_maps: int,
) -> None:
    """Per class, a row of example images, a gap, then its mean first-layer maps."""
    grid = subfig.add_gridspec(len(classes), num_examples + 1 + n_maps)
    first = {c: means[c][0] for c in classes}
    # One colour scale for every class's maps, so that rows compare.
    lo = min(float(m.min()) for m in first.values())
    hi = max(float(m.max()) for m in first.values())
    for row, c in enumerate(classes):
        idx = np.flatnonzero(y == c)[:num_examples]
        for j in range(num_examples):
            ax = subfig.add_subplot(grid[row, j])
            hide_ticks(ax)
            if j < idx.size:
                ax.imshow(x[idx[j], :, :, 0], cmap="gray")
            else:
                ax.set_frame_on(False)
            if j == 0:
                ax.set_ylabel(class_names[c], fontsize=9)
            if row == 0 and j == 0:
                ax.set_title("examples", fontsize=8, loc="left")
        for ch in range(n_maps):
            ax = subfig.add_subplot(grid[row, num_examples + 1 + ch])
            hide_ticks(ax)
            ax.imshow(first[c][:, :, ch], cmap="viridis", vmin=lo, vmax=hi)
            if row == 0:
                ax.set_title(f"ch {ch}", fontsize=8)


def _draw_channel_bars(
    subfig: Any,
    means: dict[int, list[np.ndarray]],
    classes: list[int],
    class_names: Sequence[str],
) -> None:
    """Bar charts of each class's mean activation per channel, first and second conv layer."""
    layers = min(2, len(means[classes[0]]))
    spans = subfig.subplots(1, layers, squeeze=False)[0]
    width = 0.8 / len(classes)
    colors = matplotlib.colormaps["tab10"]
    for layer, ax in enumerate(spans):
        channels = means[classes[0]][layer].shape[-1]
        positions = np.arange(channels)
        for k, c in enumerate(classes):
            ax.bar(
                positions + (k - (len(classes) - 1) / 2) * width,
                means[c][layer].mean(axis=(0, 1)),
                width,
                label=class_names[c],
                color=colors(k % 10),
            )
        ax.set_xticks(positions)
        ax.tick_params(axis="x", labelsize=7 if channels > 16 else 8)
        ax.set_xlabel("channel")
        ax.set_ylabel("mean activation")
        ax.set_title(f"conv layer {layer + 1}", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        # Headroom so that the legend never hides the tallest bars.
        ax.set_ylim(top=ax.get_ylim()[1] * 1.18)
        ax.legend(fontsize=8, ncols=len(classes), loc="upper center")
