"""Before training: resolve the configuration, open the run folder, settle what the run does.

A run is fresh, resumed, finished (the folder holds it already) or refused
(another run's folder, busy, unwritable); every mistake of the user's is
found here, before any model is built, and raised as a `ConfigError`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tfconv.train.config import TrainConfig
from tfconv.train.history import read_history
from tfconv.train.results import TrainResult, data_fingerprint, run_settings
from tfconv.train.run_folder import RunFolder, RunFolderError
from tfconv.train.setup import make_strategy, resolve_precision
from tfconv.train.workers import agree_with_chief
from tfconv.utils.errors import ConfigError
from tfconv.utils.runtime import package_versions

# What a run does with its folder; under multi-worker the chief's choice is
# sent to every worker as its index.
ACTIONS = ("fresh", "resume", "finished", "refused")


def resolve(config: TrainConfig) -> tuple[TrainConfig, str, Any]:
    """The resolved config, precision and strategy; a bad one is a `ConfigError`."""
    try:
        cfg = config.resolved()
        return cfg, resolve_precision(cfg.precision), make_strategy(cfg.strategy)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def open_run(
    cfg: TrainConfig,
    precision: str,
    strategy: Any,
    chief: bool,
    folder: RunFolder | None,
    out: str | os.PathLike | None,
    overwrite: bool,
) -> tuple[Any, Any, str]:
    """Takes the folder, seeds, makes the pipelines and settles the action (`ACTIONS`).

    Returns:
        The pipelines, their epoch variable and the action: `"fresh"`,
        `"resume"` or `"finished"` (a refusal is raised).
    """
    from tfconv import data

    try:
        if folder is not None:
            folder.acquire()
        _seed(cfg)
        epoch_var = _make_epoch_var()
        pipes = _make_pipelines(cfg, epoch_var)
        action, settings, refusal = _decide(cfg, precision, folder, overwrite)
    except (ValueError, data.DataNotFoundError) as err:
        # Everything up to here is the user's input; what fails later is not.
        raise ConfigError(str(err)) from err
    if folder is not None and action in ("fresh", "resume"):
        # Before the workers agree: a fresh run clears the old resume
        # state, which no worker may restore from.
        folder.begin(
            settings,
            fresh=action == "fresh",
            info={"versions": package_versions(), "command": " ".join(sys.argv)},
        )
    if cfg.strategy == "multiworker" and folder is not None:
        action, refusal = agree_on_action(strategy, chief, action, refusal, out)
    if refusal is not None:
        raise ConfigError(str(refusal)) from refusal
    return pipes, epoch_var, action


def _seed(cfg: TrainConfig) -> None:
    """Seeds first: they define the initial weights (and, deterministic, the ops)."""
    import keras
    import tensorflow as tf

    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)


def _make_epoch_var() -> Any:
    """The training pipeline's epoch, and the resume state's count of finished epochs."""
    import tensorflow as tf

    with tf.init_scope(), tf.device("/CPU:0"):
        return tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")


def _make_pipelines(cfg: TrainConfig, epoch_var: Any) -> Any:
    from tfconv import data

    return data.pipelines(
        cfg.dataset,
        cfg.batch_size,
        data_dir=cfg.data_dir,
        source=cfg.source,
        standardize=cfg.standardize,
        augment=cfg.augment,
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        limit_train=cfg.limit_train,
        limit_test=cfg.limit_test,
        epoch=epoch_var,
    )


def _decide(
    cfg: TrainConfig, precision: str, folder: RunFolder | None, overwrite: bool
) -> tuple[str, dict[str, Any], Exception | None]:
    """The action the folder allows, the run's settings, and the folder's refusal if any."""
    from tfconv import data

    if folder is None:
        return "fresh", {}, None
    arrays = data.load(cfg.dataset, data_dir=cfg.data_dir, source=cfg.source)
    settings = run_settings(cfg, precision, data_fingerprint([*arrays[0], *arrays[1]]))
    try:
        return folder.decide(settings, overwrite=overwrite), settings, None
    except RunFolderError as err:
        return "refused", settings, err


def agree_on_action(
    strategy: Any,
    chief: bool,
    action: str,
    refusal: Exception | None,
    out: str | os.PathLike | None,
) -> tuple[str, Exception | None]:
    """The chief decides for all: every worker must run the same epochs."""
    action = ACTIONS[agree_with_chief(strategy, chief, ACTIONS.index(action))]
    if action != "refused":
        return action, None
    if refusal is None:
        refusal = ConfigError(
            f"The chief worker refused the run folder (see its message). "
            f"Received: out={str(out)!r}"
        )
    return action, refusal


def finished_result(out: Path) -> TrainResult:
    import keras

    metrics = json.loads((out / "metrics.json").read_text())
    model = keras.models.load_model(out / "model.keras")
    return TrainResult(
        model=model,
        history=read_history(out / "history.csv"),
        metrics=metrics,
        out=out,
        status="finished",
    )
