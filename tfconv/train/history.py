"""`history.csv`, the run's per-epoch table: its columns, writing and reading it."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from tfconv.utils import fileio

HISTORY_FIELDS = (
    "epoch",
    "loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "seconds",
    "examples_per_sec",
)


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a `history.csv` as dicts of floats (empty if there is none)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)
        ]


def write_history(path: str | os.PathLike, rows: list[dict[str, float]]) -> None:
    """Writes `rows` as `history.csv` (the `HISTORY_FIELDS` columns), atomically."""
    with fileio.atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value)) if isinstance(value, float) else str(value)
