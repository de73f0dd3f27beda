"""What a search reports: the trial table (`results.csv`, `results.md`), the best
trial as a `tfconv train --config` file, and `TuneResult`.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keras_tuner.engine.trial import Trial, TrialStatus

from tfconv.tune.config import TuneConfig
from tfconv.tune.hypermodel import LeNetHyperModel
from tfconv.utils import fileio

# The trial table's columns after the trial's own, in this order.
TABLE_FIELDS = (
    "optimizer",
    "lr",
    "momentum",
    "batch_size",
    "conv_channels",
    "kernel_size",
    "conv_padding",
    "pooling",
    "activation",
    "dense_units",
    "batch_norm",
    "dropout",
    "initializer",
)
TABLE_COLUMNS = (
    "rank",
    "trial_id",
    "status",
    "val_accuracy",
    "num_params",
    "seconds",
    "epochs",
    *TABLE_FIELDS,
)
_NUMERIC = {"rank", "val_accuracy", "num_params", "seconds", "epochs", "lr", "batch_size"}


@dataclasses.dataclass
class TuneResult:
    """What `search` returns.

    Attributes:
        role: `"single"`, `"chief"` or `"worker"`.
        directory: The search folder.
        rows: The results table, best first (empty on workers).
        best: The best row, or `None`.
        best_config: The contents of `best_config.json`.
        test_metrics: `test_loss`, `test_acc` of the best model.
        model: The best model (`None` on workers).
    """

    role: str
    directory: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_config: dict[str, Any] | None
    test_metrics: dict[str, float] | None
    model: Any = None


def trial_epochs(trial: Trial, epochs: int) -> int:
    """The epochs `trial` trained for: Hyperband's own count, else `epochs`."""
    return int(trial.hyperparameters.values.get("tuner/epochs", epochs))


def trial_rows(
    trials: Sequence[Trial], hypermodel: LeNetHyperModel, epochs: int
) -> list[dict[str, Any]]:
    """One dict per trial (`TABLE_COLUMNS`), completed trials best first."""
    rows = [_trial_row(trial, hypermodel, epochs) for trial in trials]
    rows.sort(
        key=lambda r: (
            r["val_accuracy"] is None,
            -(r["val_accuracy"] or 0.0),
            r["num_params"] or 0,
            r["trial_id"],
        )
    )
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank if row["val_accuracy"] is not None else None
    return rows


def _trial_row(trial: Trial, hypermodel: LeNetHyperModel, epochs: int) -> dict[str, Any]:
    row: dict[str, Any] = {"trial_id": trial.trial_id, "status": str(trial.status)}
    completed = trial.status == TrialStatus.COMPLETED and trial.score is not None
    row["val_accuracy"] = float(trial.score) if completed else None
    for name in ("num_params", "seconds"):
        exists = trial.metrics.exists(name)
        row[name] = trial.metrics.get_last_value(name) if exists else None
    if row["num_params"] is not None:
        row["num_params"] = int(row["num_params"])
    if trial.hyperparameters.values:
        fields = hypermodel.fields(trial.hyperparameters.copy())
        flat = {**{k: v for k, v in fields.items() if k != "model"}, **fields["model"]}
        if flat["optimizer"] != "sgd":
            flat["momentum"] = None
        for name in TABLE_FIELDS:
            value = flat.get(name)
            row[name] = ",".join(map(str, value)) if isinstance(value, list) else value
        row["epochs"] = trial_epochs(trial, epochs)
    return row


def _cell(value: Any, column: str) -> str:
    if value is None:
        return ""
    if column == "val_accuracy":
        return f"{value:.4f}"
    if column == "seconds":
        return f"{value:.1f}"
    if column == "lr":
        return f"{value:.3g}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_results(directory: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> None:
    """Writes `results.csv` and `results.md` (atomically)."""
    root = Path(directory)
    with fileio.atomic_file(root / "results.csv") as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TABLE_COLUMNS)
        for row in rows:
            writer.writerow([_cell(row.get(c), c) for c in TABLE_COLUMNS])
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---:" if c in _NUMERIC else "---" for c in TABLE_COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), c) for c in TABLE_COLUMNS) + " |")
    fileio.write_text_atomic(root / "results.md", "\n".join(lines) + "\n")


def best_config(trial: Trial, hypermodel: LeNetHyperModel, config: TuneConfig) -> dict[str, Any]:
    """The best trial as a `tfconv train --config` file: config field names only."""
    fields = hypermodel.fields(trial.hyperparameters.copy())
    out: dict[str, Any] = {
        "dataset": config.dataset,
        "variant": hypermodel.base_variant,
        "layers": config.layers,
        "epochs": trial_epochs(trial, config.epochs),
        "optimizer": fields["optimizer"],
        "lr": fields["lr"],
        "momentum": fields["momentum"],
        "batch_size": fields["batch_size"],
        "augment": False,
        "standardize": config.standardize,
        "precision": config.precision,
        "seed": config.seed,
    }
    out.update(fields["model"])
    return out
