"""`curves.png`, the run's training curves (the book's animator plot), drawn without pyplot.

The picture is one of the run folder's outputs, so it is drawn here rather
than in `tfconv.viz` (which sits above `tfconv.train` and may use this).
It uses `tfconv.utils.figures` (no pyplot), so a notebook's plotting
backend is left alone; `tfconv viz` re-exports this `plot_curves`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tfconv.utils.figures import new_figure, save_figure


def plot_curves(history: Sequence[dict[str, float]], title: str = "") -> Any:
    """Train loss, train accuracy and test accuracy per epoch, like the book's animator.

    Args:
        history: Rows with `epoch`, `loss`, `train_acc` and `test_acc`
            (as in `history.csv`).
        title: Figure title.

    Returns:
        The matplotlib `Figure` (not registered with pyplot: nothing to close).
    """
    fig = new_figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
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


def write_curves(path: str | os.PathLike, history: Sequence[dict[str, float]], title: str) -> None:
    """Draws `history` and saves it as `path` (`curves.png`): `train`'s default drawer."""
    save_figure(plot_curves(history, title=title), path)
