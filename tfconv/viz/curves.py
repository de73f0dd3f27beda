"""The training curves of a run: loss and accuracies per epoch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfconv.viz.figures import new_figure

_CURVES = (
    ("loss", "train loss", "-"),
    ("train_acc", "train acc", "--"),
    ("test_acc", "test acc", "-."),
)


def plot_curves(history: Sequence[dict[str, float]], title: str = "") -> Any:
    """Train loss, train accuracy and test accuracy per epoch, like the book's animator.

    Args:
        history: Rows with `epoch`, `loss`, `train_acc` and `test_acc`
            (as in `history.csv`).
        title: Figure title.

    Returns:
        The matplotlib `Figure`.
    """
    fig = new_figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    epochs = [row["epoch"] for row in history]
    for key, label, style in _CURVES:
        ax.plot(epochs, [row.get(key, float("nan")) for row in history], style, label=label)
    ax.set_xlabel("epoch")
    ax.set_xlim(min(epochs, default=1) - 0.1, max(epochs, default=1) + 0.1)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
