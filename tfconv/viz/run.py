"""Loading a run folder written by `tfconv.train.train`: its model, metrics and history."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tfconv.models.saving import load_model_file
from tfconv.train import read_history


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


def _read_metrics(path: Path) -> dict[str, Any]:
    """`metrics.json` of a run folder, or `{}` when it has none."""
    metrics_path = path / "metrics.json"
    if not metrics_path.is_file():
        return {}
    try:
        return json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"Cannot read {metrics_path}: {err}") from None


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
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"The run folder does not exist. Received: run_dir={str(path)!r}")
    model_path = path / "model.keras"
    if not model_path.is_file():
        raise FileNotFoundError(
            f"The run folder has no model.keras (has training finished?). "
            f"Received: run_dir={str(path)!r}"
        )
    metrics = _read_metrics(path)
    model = load_model_file(model_path, received=f"run_dir={str(path)!r}")
    return Run(
        path=path,
        model=model,
        config=dict(metrics.get("config") or {}),
        metrics=metrics,
        history=read_history(path / "history.csv"),
    )
