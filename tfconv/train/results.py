"""What a run produces and how it is identified: `TrainResult`, the run's settings, its errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.train.config import TrainConfig


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the model, the per-epoch history and the metrics.

    `status` is `"trained"` (a fresh run), `"resumed"` (an interrupted run
    finished) or `"finished"` (the run folder already held this run, which
    was left untouched).

    `model` is the network as trained: it takes the pipeline's scaled pixels.
    The run folder's `model.keras` wraps the same layers to take raw pixels;
    for a `"finished"` run, `model` is that file's model (raw pixels).
    """

    model: Any
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    out: Path | None
    status: str = "trained"


# TrainConfig fields that do not change what a run computes, so a resume may
# change them. (`scale_lr` is folded into `lr` by `resolved`; the data's
# location is replaced by a fingerprint of its content.)
_NOT_IDENTITY = ("verbose", "steps_per_execution", "data_dir", "source", "scale_lr")


def run_settings(cfg: TrainConfig, precision: str, data_fingerprint: str) -> dict[str, Any]:
    """The settings that identify a run: what a resume must not change.

    Args:
        cfg: A resolved `TrainConfig`.
        precision: The resolved precision (`"auto"` depends on the machine).
        data_fingerprint: `data_fingerprint` of the data the run reads.
    """
    settings = {k: v for k, v in cfg.to_dict().items() if k not in _NOT_IDENTITY}
    settings["precision"] = precision
    settings["data_sha256"] = data_fingerprint
    # As the manifest stores them (tuples become lists), so they compare equal.
    return json.loads(json.dumps(settings))


def data_fingerprint(arrays: Sequence[np.ndarray]) -> str:
    """SHA-256 of the arrays' shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(np.ascontiguousarray(a).data)
    return digest.hexdigest()


def summarize(
    history: list[dict[str, float]], wall: float, facts: dict[str, Any]
) -> dict[str, Any]:
    """`metrics.json`: the last epoch's numbers, throughput and wall time, then `facts`.

    Args:
        history: The run's rows, every attempt's epochs.
        wall: Seconds this attempt trained (used when a row lacks its wall time).
        facts: What else the metrics record (device, config, versions, ...),
            in the order they are written.
    """
    last = history[-1] if history else {}
    throughputs = [r["examples_per_sec"] for r in history]
    walls = [r.get("wall") for r in history]
    return {
        "loss": last.get("loss"),
        "train_acc": last.get("train_acc"),
        "test_loss": last.get("test_loss"),
        "test_acc": last.get("test_acc"),
        "epochs": len(history),
        "examples_per_sec": sum(throughputs) / len(throughputs) if throughputs else None,
        # The first epoch pays for tracing and compilation.
        "examples_per_sec_after_first": (
            sum(throughputs[1:]) / len(throughputs[1:]) if len(throughputs) > 1 else None
        ),
        # Over every attempt of a resumed run, epoch by epoch.
        "wall_seconds": sum(walls) if walls and None not in walls else wall,
        **facts,
    }
