"""Making and saving figures without pyplot, so that matplotlib's backend is never touched.

Every picture tfconv draws (a run's `curves.png`, `tfconv viz`'s panels) is a
`matplotlib.figure.Figure` with its own Agg canvas: it renders without a
display and without pyplot's global state, so importing or using tfconv
leaves a notebook's backend (and its open figures) alone.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfconv.utils import fileio

DPI = 110


def new_figure(**kwargs: Any) -> Figure:
    """A `Figure` at tfconv's DPI, drawn by its own Agg canvas.

    Args:
        **kwargs: `Figure` arguments (`figsize`, `layout`, ...).

    Returns:
        The figure, not registered with pyplot.
    """
    fig = Figure(dpi=DPI, **kwargs)
    # Its own canvas: saving and notebook display render through Agg whatever
    # backend pyplot uses, and nothing global changes.
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike) -> None:
    """Saves `fig` as PNG atomically and closes it.

    Args:
        fig: A matplotlib `Figure` (from a `plot_*` function, or pyplot's).
        path: The PNG file to write.
    """
    try:
        with fileio.atomic_file(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        # Only a pyplot figure has anything to close; pyplot is not imported
        # here, since importing it would pick a backend.
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)


def hide_ticks(ax: Any) -> None:
    """Removes both axes' ticks (image panels)."""
    ax.set_xticks([])
    ax.set_yticks([])
