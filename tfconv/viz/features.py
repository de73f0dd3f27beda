"""The feature maps of one image, block by block."""

from __future__ import annotations

from typing import Any

from tfconv.utils.figures import hide_ticks, new_figure
from tfconv.viz.blocks import as_batch, feature_extractor, predict_maps


def plot_features(
    model: Any,
    image: Any,
    title: str | None = None,
    max_channels: int = 16,
) -> Any:
    """An input image beside the feature maps of every convolution block.

    One row per map: each block's output after its activation and after its
    pooling, one panel per channel (up to `max_channels`). The channels of a
    row share one colour scale so that they can be compared.

    Args:
        model: A model with at least one convolution layer.
        image: One image as the model takes it, `(H, W)` or `(H, W, 1)`.
        title: Figure title; defaults to the model's name.
        max_channels: Channels drawn per row.

    Returns:
        The matplotlib `Figure`.
    """
    x = as_batch(image)[:1]
    extractor, labels = feature_extractor(model)
    maps = [m[0] for m in predict_maps(extractor, x)]
    ncols = max(2, min(max_channels, max(m.shape[-1] for m in maps)))
    nrows = 1 + len(maps)
    fig = new_figure(figsize=(1.15 * ncols + 1.2, 1.25 * nrows + 0.9), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        hide_ticks(ax)
        ax.set_frame_on(False)
    axes[0, 0].imshow(x[0, :, :, 0], cmap="gray")
    axes[0, 0].set_frame_on(True)
    axes[0, 0].set_ylabel(f"input\n{x.shape[1]}x{x.shape[2]}", fontsize=9)
    for row, (label, fmap) in enumerate(zip(labels, maps, strict=True), start=1):
        lo, hi = float(fmap.min()), float(fmap.max())
        for c in range(min(ncols, fmap.shape[-1])):
            ax = axes[row, c]
            ax.imshow(fmap[:, :, c], cmap="viridis", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_frame_on(True)
            if row == 1 or fmap.shape[-1] != maps[row - 2].shape[-1]:
                ax.set_title(f"ch {c}", fontsize=8)
        axes[row, 0].set_ylabel(
            f"{label}\n{fmap.shape[0]}x{fmap.shape[1]}\n[{lo:.2f}, {hi:.2f}]", fontsize=9
        )
    fig.suptitle(title or f"{model.name}: feature maps", fontsize=11)
    return fig
