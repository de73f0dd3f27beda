"""The confusion matrix, the most confused classes and the misclassified images."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfconv.utils.figures import new_figure
from tfconv.viz.blocks import as_batch


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
    fig = new_figure(figsize=(7.8, 6.8), layout="constrained")
    ax = fig.subplots()
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
    x = as_batch(x)
    t, p = np.asarray(y_true), np.asarray(y_pred)
    wrong = np.flatnonzero(t != p)
    shown = wrong[:max_images]
    ncols = max(1, min(ncols, shown.size or 1))
    nrows = max(1, math.ceil(shown.size / ncols))
    fig = new_figure(figsize=(max(1.55 * ncols, 4.5), 1.85 * nrows + 0.7), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
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
