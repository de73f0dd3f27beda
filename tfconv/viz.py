"""Pictures: training curves (more views arrive with `tfconv viz`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_curves(history: Sequence[dict[str, float]], title: str = "") -> Any:
    """Train loss, train accuracy and test accuracy per epoch, like the book's animator.

    Args:
        history: Rows with `epoch`, `loss`, `train_acc` and `test_acc`
            (as in `history.csv`).
        title: Figure title.

    Returns:
        The matplotlib `Figure`.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.8), dpi=110)
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
    from tfconv.train import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
