"""Pictures of a training run: curves, kernels, feature maps, activations and errors.

Every `plot_*` function returns a matplotlib `Figure` (drawn with the Agg
backend, so no display is needed) and `save_figure` writes one as a PNG
atomically. `visualize` is what `tfconv viz` runs: it loads a run folder
written by `tfconv.train.train` and writes the pictures asked for.

The model functions work for any model `tfconv.models.build` returns, with
tfconv's own layers or Keras's: convolution blocks are found by layer type,
not by name.

Example:

>>> model = tfconv.models.build("lenet")
>>> save_figure(plot_kernels(model), "kernels.png")
>>> cm = confusion_matrix([0, 1, 1], [0, 1, 0], num_classes=2)
>>> cm
array([[1, 0],
       [1, 1]])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tfconv.layers.kinds import is_conv, is_pool

KINDS = ("curves", "kernels", "features", "activations", "confusion", "errors")

# The chapter's last exercise compares the activations of these two
# Fashion-MNIST classes (the book says "sweaters", the dataset "Pullover").
BOOK_CLASSES = ("Pullover", "Coat")

_DPI = 110


# --------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------


def plot_curves(history: Sequence[dict[str, float]], title: str = "") -> Any:
    """Train loss, train accuracy and test accuracy per epoch, like the book's animator.

    Args:
        history: Rows with `epoch`, `loss`, `train_acc` and `test_acc`
            (as in `history.csv`).
        title: Figure title.

    Returns:
        The matplotlib `Figure`.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=_DPI)
    epochs = [row["epoch"] for row in history]
    for key, label, style in (
        ("loss", "train loss", "-"),
        ("train_acc", "train acc", "--"),
        ("test_acc", "test acc", "-."),
    ):
        ax.plot(epochs, [row.get(key, float("nan")) for row in history], style, label=label)
    ax.set_xlabel("epoch")
    ax.set_xlim(min(epochs, default=1) - 0.1, max(epochs, default=1) + 0.1)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: str | os.PathLike) -> None:
    """Saves `fig` as PNG atomically and closes it."""
    from tfconv.utils import fileio

    try:
        with fileio.atomic_file(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------
# Finding the convolution blocks
# --------------------------------------------------------------------------


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
    import keras

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


def _describe_activation(block: ConvBlock) -> str:
    layer = block.activated
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", None) if act is not None else None
    if name in (None, "linear"):
        return layer.name
    return f"{block.conv.name} + {name}"


def _inputs(model: Any) -> Any:
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
    import keras

    blocks = conv_blocks(model)
    if not blocks:
        raise ValueError(f"The model has no Conv2D layer. Received: model={model.name!r}")
    outputs, labels = [], []
    for block in blocks:
        outputs.append(block.activated.output)
        labels.append(_describe_activation(block))
        if block.pool is not None:
            outputs.append(block.pool.output)
            labels.append(block.pool.name)
    return keras.Model(_inputs(model), outputs, name=f"{model.name}_features"), labels


def _as_batch(x: Any) -> np.ndarray:
    """Images as a float32 `(N, H, W, 1)` batch (a `(H, W)` image becomes N=1)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[..., None] if x.shape[-1] != 1 else x[None]
    if x.ndim != 4:
        raise ValueError(f"Expected images of shape (N, H, W[, 1]). Received: shape={x.shape}")
    return x


def _predict_maps(extractor: Any, x: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    import tensorflow as tf

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
    logits = model.predict(_as_batch(x), batch_size=batch_size, verbose=0)
    return np.argmax(np.asarray(logits, dtype=np.float32), axis=-1).astype(np.int64)


def _hide_ticks(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------
# Kernels and feature maps
# --------------------------------------------------------------------------


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
    blocks = conv_blocks(model)
    if not blocks:
        raise ValueError(f"The model has no Conv2D layer. Received: model={model.name!r}")
    if not 0 <= block < len(blocks):
        raise ValueError(f"`block` must be in [0, {len(blocks)}). Received: block={block!r}")
    conv = blocks[block].conv
    kernel = np.asarray(conv.kernel, dtype=np.float32)  # (k_h, k_w, c_i, c_o)
    k_h, k_w, c_i, c_o = kernel.shape
    if c_i == 1:
        pairs = [(o, 0) for o in range(min(c_o, max_kernels))]
        ncols = min(len(pairs), 8)
        nrows = math.ceil(len(pairs) / ncols)
    else:
        # One row per input channel, one column per output channel, clipped.
        ncols = min(c_o, 8)
        nrows = min(c_i, max(1, max_kernels // ncols))
        pairs = [(o, i) for i in range(nrows) for o in range(ncols)]
    vmax = float(np.abs(kernel).max()) or 1.0
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.35 * ncols + 1.6, max(3.0, 1.45 * nrows + 1.1)),
        dpi=_DPI,
        squeeze=False,
        layout="constrained",
    )
    image = None
    for ax, (o, i) in zip(axes.ravel(), pairs, strict=False):
        image = ax.imshow(
            kernel[:, :, i, o], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest"
        )
        ax.set_title(f"kernel {o}" if c_i == 1 else f"out {o} / in {i}", fontsize=9)
        _hide_ticks(ax)
    for ax in axes.ravel()[len(pairs) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.85, label="weight")
    shown = "" if len(pairs) == c_o * c_i else f", {len(pairs)} shown"
    fig.suptitle(
        f"{model.name}: kernels of {conv.name} ({c_o} x {c_i} x {k_h}x{k_w}{shown})", fontsize=11
    )
    return fig


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
    x = _as_batch(image)[:1]
    extractor, labels = feature_extractor(model)
    maps = [m[0] for m in _predict_maps(extractor, x)]
    ncols = max(2, min(max_channels, max(m.shape[-1] for m in maps)))
    nrows = 1 + len(maps)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(1.15 * ncols + 1.2, 1.25 * nrows + 0.9),
        dpi=_DPI,
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        _hide_ticks(ax)
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


# --------------------------------------------------------------------------
# Activations per class
# --------------------------------------------------------------------------


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
    import keras

    x, y = _as_batch(x), np.asarray(y)
    blocks = conv_blocks(model)
    if not blocks:
        raise ValueError(f"The model has no Conv2D layer. Received: model={model.name!r}")
    extractor = keras.Model(_inputs(model), [b.activated.output for b in blocks])
    picked = []
    for c in classes:
        idx = np.flatnonzero(y == c)[:max_per_class]
        if idx.size == 0:
            raise ValueError(f"No image of class {c} among the {len(y)} labels given.")
        picked.append(idx)
    # One pass over all the classes' images, then the means per class.
    maps = _predict_maps(extractor, x[np.concatenate(picked)])
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
    x, y = _as_batch(x), np.asarray(y)
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError("`classes` must name at least one class. Received: classes=[]")
    means = class_activations(model, x, y, classes)
    first = {c: means[c][0] for c in classes}
    c1 = next(iter(first.values())).shape[-1]
    n_maps = min(c1, max_channels)
    ncols = num_examples + 1 + n_maps
    fig = plt.figure(
        figsize=(0.95 * ncols + 1.0, 1.2 * len(classes) + 3.4), dpi=_DPI, layout="constrained"
    )
    # Two subfigures, so that the bar charts' labels do not push apart the
    # columns of images above them.
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.2 * len(classes), 3.0])
    grid = top.add_gridspec(len(classes), ncols)
    lo = min(float(m.min()) for m in first.values())
    hi = max(float(m.max()) for m in first.values())
    for row, c in enumerate(classes):
        idx = np.flatnonzero(y == c)[:num_examples]
        for j in range(num_examples):
            ax = top.add_subplot(grid[row, j])
            _hide_ticks(ax)
            if j < idx.size:
                ax.imshow(x[idx[j], :, :, 0], cmap="gray")
            else:
                ax.set_frame_on(False)
            if j == 0:
                ax.set_ylabel(class_names[c], fontsize=9)
            if row == 0 and j == 0:
                ax.set_title("examples", fontsize=8, loc="left")
        for ch in range(n_maps):
            ax = top.add_subplot(grid[row, num_examples + 1 + ch])
            _hide_ticks(ax)
            ax.imshow(first[c][:, :, ch], cmap="viridis", vmin=lo, vmax=hi)
            if row == 0:
                ax.set_title(f"ch {ch}", fontsize=8)
    layers = min(2, len(means[classes[0]]))
    spans = bottom.subplots(1, layers, squeeze=False)[0]
    width = 0.8 / len(classes)
    colors = plt.get_cmap("tab10")
    for layer, ax in enumerate(spans):
        channels = means[classes[0]][layer].shape[-1]
        positions = np.arange(channels)
        for k, c in enumerate(classes):
            per_channel = means[c][layer].mean(axis=(0, 1))
            ax.bar(
                positions + (k - (len(classes) - 1) / 2) * width,
                per_channel,
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
    names = " vs ".join(class_names[c] for c in classes)
    fig.suptitle(f"{model.name}: mean activations, {names} (maps: first conv layer)", fontsize=11)
    return fig


# --------------------------------------------------------------------------
# Confusion and errors
# --------------------------------------------------------------------------


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Args:
        y_true: Integer labels, shape `(N,)`.
        y_pred: Integer predictions, shape `(N,)`.
        num_classes: Matrix size; defaults to one more than the largest label.

    Returns:
        An int64 array `cm` of shape `(num_classes, num_classes)` where
        `cm[i, j]` is the number of examples of class `i` predicted as `j`.

    Example:

    >>> confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2])
    array([[1, 0, 0],
           [0, 0, 1],
           [0, 0, 2]])
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(
            "`y_true` and `y_pred` must be 1-D and of the same length. "
            f"Received: y_true.shape={t.shape}, y_pred.shape={p.shape}"
        )
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.dtype.kind not in "iu" and not np.all(np.equal(np.mod(a, 1), 0))):
            raise ValueError(f"`{name}` must hold integer class labels.")
    t, p = t.astype(np.int64), p.astype(np.int64)
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(
                f"`{name}` must hold labels in [0, {num_classes}). "
                f"Received: min={a.min()}, max={a.max()}"
            )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def most_confused_pair(cm: Any, exclude: Sequence[Sequence[int]] = ()) -> tuple[int, int]:
    """The two distinct classes most often mistaken for each other (either way).

    Args:
        cm: A confusion matrix from `confusion_matrix`.
        exclude: Pairs not to return, e.g. `[(2, 4)]`.

    Returns:
        `(a, b)` with `a < b`, maximising `cm[a, b] + cm[b, a]`.
    """
    cm = np.asarray(cm)
    both = (cm + cm.T).astype(np.int64)
    np.fill_diagonal(both, -1)
    for a, b in exclude:
        both[a, b] = both[b, a] = -1
    a, b = np.unravel_index(int(np.argmax(both)), both.shape)
    return (int(min(a, b)), int(max(a, b)))


def plot_confusion(
    y_true: Any, y_pred: Any, class_names: Sequence[str], title: str | None = None
) -> Any:
    """The confusion matrix, each row normalised to sum to 1, with class names.

    Row `i` shows where the examples of class `i` went: the diagonal is each
    class's recall and everything off it a kind of mistake.

    Args:
        y_true: Integer labels, shape `(N,)`.
        y_pred: Integer predictions, shape `(N,)`.
        class_names: Name of every class, indexed by label.
        title: Figure title; defaults to one with the accuracy.

    Returns:
        The matplotlib `Figure`.
    """
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    totals = cm.sum(axis=1, keepdims=True)
    norm = cm / np.maximum(totals, 1)
    fig, ax = plt.subplots(figsize=(7.8, 6.8), dpi=_DPI, layout="constrained")
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(n), class_names, rotation=40, ha="right", fontsize=9)
    ax.set_yticks(range(n), class_names, fontsize=9)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    accuracy = float(np.trace(cm)) / max(int(cm.sum()), 1)
    ax.set_title(
        title or f"Confusion matrix: accuracy {accuracy:.3f} on {int(cm.sum())} images",
        fontsize=11,
    )
    return fig


def plot_errors(
    x: Any,
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str],
    max_images: int = 40,
    ncols: int = 8,
) -> Any:
    """A grid of misclassified images, each titled with its true and predicted class.

    Args:
        x: Images `(N, H, W[, 1])`.
        y_true: Integer labels, shape `(N,)`.
        y_pred: Integer predictions, shape `(N,)`.
        class_names: Name of every class, indexed by label.
        max_images: Draw the first this many mistakes (in dataset order).
        ncols: Images per row.

    Returns:
        The matplotlib `Figure`.
    """
    x = _as_batch(x)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(t != p)
    shown = wrong[:max_images]
    ncols = max(1, min(ncols, shown.size or 1))
    nrows = max(1, math.ceil(shown.size / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(1.55 * ncols, 4.5), 1.85 * nrows + 0.7),
        dpi=_DPI,
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown, strict=False):
        ax.imshow(x[i, :, :, 0], cmap="gray")
        ax.set_title(
            f"true: {class_names[t[i]]}\npred: {class_names[p[i]]}", fontsize=8, color="firebrick"
        )
    if shown.size == 0:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle(
        f"Misclassified test images: {shown.size} shown of {wrong.size} errors in {t.size} images",
        fontsize=11,
    )
    return fig


# --------------------------------------------------------------------------
# A run folder
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """A run folder written by `tfconv.train.train`, loaded.

    Attributes:
        path: The folder.
        model: The trained model (`model.keras`).
        config: The run's configuration (`metrics.json`'s `"config"`), or an
            empty dict when the folder has no `metrics.json`.
        metrics: The whole `metrics.json` (or an empty dict).
        history: The rows of `history.csv`.
    """

    path: Path
    model: Any
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, float]]


def load_run(run_dir: str | os.PathLike) -> Run:
    """Loads the model, metrics and history of a run folder.

    Args:
        run_dir: A folder with `model.keras` (and normally `metrics.json`
            and `history.csv`).

    Returns:
        A `Run`.

    Raises:
        FileNotFoundError: If the folder or its `model.keras` is missing.
        ValueError: If `metrics.json` is unreadable.
    """
    from tfconv.models.saving import load_model_file
    from tfconv.train import read_history

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"The run folder does not exist. Received: run_dir={str(path)!r}")
    model_path = path / "model.keras"
    if not model_path.is_file():
        raise FileNotFoundError(
            f"The run folder has no model.keras (has training finished?). "
            f"Received: run_dir={str(path)!r}"
        )
    metrics: dict[str, Any] = {}
    metrics_path = path / "metrics.json"
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"Cannot read {metrics_path}: {err}") from None
    model = load_model_file(model_path, received=f"run_dir={str(path)!r}")
    return Run(
        path=path,
        model=model,
        config=dict(metrics.get("config") or {}),
        metrics=metrics,
        history=read_history(path / "history.csv"),
    )


def parse_classes(text: str, class_names: Sequence[str]) -> list[int]:
    """Class indices from `"A,B"`: names (any case, or one side of a `/`) or indices.

    Example:

    >>> parse_classes("pullover,Coat", get_info("fashion_mnist").class_names)
    [2, 4]
    """
    lookup: dict[str, int] = {}
    for i, name in enumerate(class_names):
        for alias in (name, *name.split("/")):
            lookup.setdefault(alias.strip().lower(), i)
    for i in range(len(class_names)):
        lookup.setdefault(str(i), i)
    result = []
    for part in text.split(","):
        key = part.strip().lower()
        if key not in lookup:
            raise ValueError(
                f"Unknown class {part.strip()!r}; use a name ({', '.join(class_names)}) or an "
                f"index 0-{len(class_names) - 1}. Received: classes={text!r}"
            )
        if lookup[key] not in result:
            result.append(lookup[key])
    if len(result) < 2:
        raise ValueError(f"Name at least two different classes. Received: classes={text!r}")
    return result


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def default_class_groups(cm: np.ndarray, class_names: Sequence[str]) -> list[tuple[int, ...]]:
    """Pullover vs coat (the chapter's exercise, when present) and the most confused pair.

    When pullover and coat are themselves the most confused pair, the next
    one is added instead, so that there are always two comparisons.
    """
    names = list(class_names)
    groups: list[tuple[int, ...]] = []
    if all(name in names for name in BOOK_CLASSES):
        groups.append(tuple(names.index(name) for name in BOOK_CLASSES))
    groups.append(most_confused_pair(cm, exclude=[g for g in groups if len(g) == 2]))
    return groups


def visualize(
    run_dir: str | os.PathLike,
    what: Sequence[str] = ("all",),
    out: str | os.PathLike | None = None,
    dataset: str | None = None,
    data_dir: str | os.PathLike | None = None,
    source: str | None = None,
    classes: str | Sequence[int] | None = None,
    index: int = 0,
    limit: int | None = None,
    print_fn: Callable[[str], Any] = print,
) -> list[Path]:
    """Writes the pictures of a run folder as PNGs (what `tfconv viz` runs).

    Args:
        run_dir: A run folder from `tfconv.train.train`.
        what: Kinds from `KINDS`, or `"all"`.
        out: Output folder; defaults to `RUN_DIR/viz`.
        dataset: Defaults to the run's dataset.
        data_dir: Defaults to the run's `data_dir`.
        source: Defaults to the run's `source`.
        classes: For `activations`: class indices, or a string `"A,B"` of
            names or indices. Default: pullover vs coat (Fashion-MNIST) and
            the most confused pair.
        index: Test image shown by `features`.
        limit: Use the first `limit` test images; defaults to the run's
            `limit_test` (all when it had none).
        print_fn: Told each file written.

    Returns:
        The paths written.

    Raises:
        FileNotFoundError: For a missing run folder, model or data.
        ValueError: For a bad kind, dataset, class or index.
    """
    kinds = list(KINDS) if "all" in what else list(dict.fromkeys(what))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(
            f"Unknown kind(s) {unknown}. Valid kinds: {', '.join(KINDS)}, all. Received: {what}"
        )
    from tfconv import models
    from tfconv.utils import fileio

    if out is not None:
        # Before the model loads: a bad --out fails at once, creating nothing.
        fileio.check_output_dir(out)
    run = load_run(run_dir)
    out_dir = fileio.check_output_dir(Path(out) if out is not None else run.path / "viz")
    # Temporary pictures of a viz that was killed (never a live one's).
    fileio.remove_stale_temps(out_dir, name_regex=r"[^/]+\.png")
    name = run.config.get("variant") or run.model.name
    written: list[Path] = []

    def save(fig: Any, filename: str) -> None:
        target = out_dir / filename
        save_figure(fig, target)
        written.append(target)
        print_fn(f"wrote {target}")

    if "curves" in kinds:
        if not run.history:
            raise FileNotFoundError(
                f"The run folder has no history.csv to draw curves from. "
                f"Received: run_dir={str(run.path)!r}"
            )
        ds_name = run.config.get("dataset", "")
        save(plot_curves(run.history, title=f"{name} on {ds_name}".strip()), "curves.png")
    if "kernels" in kinds:
        save(plot_kernels(run.model), "kernels.png")
    needs_data = {"features", "activations", "confusion", "errors"} & set(kinds)
    if not needs_data:
        return written

    from tfconv import data

    scaling = models.find_layer(run.model, models.PixelScaling)
    carried = models.find_layer(run.model, models.ClassNames)
    dataset = dataset or (carried.dataset if carried else None) or run.config.get("dataset")
    info = data.get_info(dataset or "fashion_mnist")
    class_names = list(carried.class_names if carried else info.class_names)
    _, (images, labels) = data.load(
        dataset,
        data_dir=data_dir if data_dir is not None else run.config.get("data_dir"),
        source=source or run.config.get("source") or "auto",
    )
    limit = limit if limit is not None else run.config.get("limit_test")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"`limit` must be a positive int. Received: limit={limit}")
        images, labels = images[:limit], labels[:limit]
    x = images.astype(np.float32)[..., None]
    if scaling is None:
        # A legacy model (saved before models took raw pixels): scale as its run did.
        x = x / 255.0
        if run.config.get("standardize"):
            x = (x - info.mean) / info.std
    y = labels.astype(np.int64)

    if "features" in kinds:
        if not 0 <= index < len(x):
            raise ValueError(f"`index` must be in [0, {len(x)}). Received: index={index}")
        title = f"{name}: feature maps of test image {index} ({class_names[y[index]]})"
        save(plot_features(run.model, x[index], title=title), "features.png")
    if not {"activations", "confusion", "errors"} & set(kinds):
        return written
    y_pred = predict_labels(run.model, x)
    cm = confusion_matrix(y, y_pred, len(class_names))
    if "activations" in kinds:
        if classes is None:
            groups = default_class_groups(cm, class_names)
        elif isinstance(classes, str):
            groups = [tuple(parse_classes(classes, class_names))]
        else:
            groups = [tuple(int(c) for c in classes)]
        for group in groups:
            fig = plot_activations(run.model, x, y, group, class_names)
            save(fig, "activations_" + "_vs_".join(_slug(class_names[c]) for c in group) + ".png")
    if "confusion" in kinds:
        save(plot_confusion(y, y_pred, class_names), "confusion.png")
    if "errors" in kinds:
        save(plot_errors(x, y, y_pred, class_names), "errors.png")
    return written
