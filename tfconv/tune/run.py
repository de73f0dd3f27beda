"""`search`: runs (or resumes) a search in its folder, then writes the results,
the best configuration and model, and the summary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import tensorflow as tf
from keras_tuner.engine.trial import Trial, TrialStatus

from tfconv import data, models
from tfconv.tune.config import TuneConfig
from tfconv.tune.directory import prepare_directory
from tfconv.tune.distributed import role as _role
from tfconv.tune.hypermodel import LeNetHyperModel
from tfconv.tune.oracles import ensure_tuner_file
from tfconv.tune.results import TuneResult, best_config, trial_rows, write_results
from tfconv.tune.tuners import make_tuner
from tfconv.utils import fileio, runtime
from tfconv.utils.errors import ConfigError


class SearchError(RuntimeError):
    """The search itself failed (e.g. no trial completed); exit status 1."""


def search(
    config: TuneConfig,
    directory: str | os.PathLike,
    overwrite: bool = False,
    print_fn: Callable[[str], None] = print,
    num_initial_points: int | None = None,
) -> TuneResult:
    """Runs (or resumes) a search and writes the search folder.

    In a distributed search (KerasTuner's `KERASTUNER_TUNER_ID`,
    `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`), the chief serves
    the oracle and writes the results; a worker runs trials and returns.

    Args:
        config: The search's `TuneConfig`.
        directory: The search folder.
        overwrite: Start over, deleting a previous tfconv search there.
        print_fn: Where the closing lines go (KerasTuner prints its own).
        num_initial_points: See `make_tuner`.

    Returns:
        A `TuneResult`.

    Raises:
        ConfigError: On bad settings, a folder holding another search, or
            data that cannot be found (all before any training).
        SearchError: If no trial completed.
    """
    root = Path(directory)
    role = _check_settings(config)
    if role == "worker" and overwrite:
        print_fn("tfconv tune: --overwrite is the chief's to do; this worker ignores it.")
        overwrite = False
    prepare_directory(root, config, overwrite=overwrite, write=role != "worker")
    _check_data(config)
    ensure_tuner_file(root, os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    hypermodel = _hypermodel(config)
    with _quiet_trials():
        tuner = make_tuner(
            hypermodel,
            config.tuner,
            directory=root,
            max_trials=config.max_trials,
            epochs=config.epochs,
            seed=config.seed,
            num_initial_points=num_initial_points,
        )
        _run(tuner, hypermodel, config, root, role)
        if role == "worker":
            return TuneResult(role, root, [], None, None, None)
        return _finish(tuner, hypermodel, config, root, role, print_fn)


def _check_settings(config: TuneConfig) -> str:
    """This process's role, once the config and KerasTuner's variables are checked."""
    try:
        config.validate()
        return _role()
    except (ValueError, RuntimeError) as err:
        raise ConfigError(str(err)) from None


def _check_data(config: TuneConfig) -> None:
    """Finds the data set before any trial would fail for want of it."""
    try:
        data.load(config.dataset, data_dir=config.data_dir, source=config.source)
    except (ValueError, data.DataNotFoundError) as err:
        raise ConfigError(str(err)) from err


def _hypermodel(config: TuneConfig) -> LeNetHyperModel:
    return LeNetHyperModel(
        config.dataset,
        space=config.space,
        layers=config.layers,
        precision=config.precision,
        validation_split=config.validation_split,
        limit_train=config.limit_train,
        limit_test=config.limit_test,
        standardize=config.standardize,
        seed=config.seed,
        max_params=config.max_params,
        data_dir=config.data_dir,
        source=config.source,
    )


@contextlib.contextmanager
def _quiet_trials() -> Iterator[None]:
    """Restores the dtype policy the trials set, and hides TensorFlow's retracing warnings."""
    previous_policy = keras.mixed_precision.dtype_policy()
    tf_logger = tf.get_logger()
    previous_level = tf_logger.level
    # Every trial is a new model, so TensorFlow warns about retracing each time.
    tf_logger.setLevel("ERROR")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
        tf_logger.setLevel(previous_level)


def _run(
    tuner: Any, hypermodel: LeNetHyperModel, config: TuneConfig, root: Path, role: str
) -> None:
    """`tuner.search`; too many failed trials in a row become a `SearchError`."""
    try:
        tuner.search(epochs=config.epochs, verbose=config.verbose)
    except RuntimeError as err:
        if "consecutive failures" not in str(err):
            raise
        if role != "worker":
            trials = list(tuner.oracle.trials.values())
            write_results(root, trial_rows(trials, hypermodel, config.epochs))
        reason = str(err).strip().splitlines()
        raise SearchError(
            f"The search stopped: {reason[0]} Last error: {reason[-1]} (see {root / 'results.md'})"
        ) from None


def _finish(
    tuner: Any,
    hypermodel: LeNetHyperModel,
    config: TuneConfig,
    root: Path,
    role: str,
    print_fn: Callable[[str], None],
) -> TuneResult:
    """Writes every output file of a finished search (the chief's or single process's)."""
    trials = list(tuner.oracle.trials.values())
    rows = trial_rows(trials, hypermodel, config.epochs)
    write_results(root, rows)
    best = _best_trial(tuner, trials, root)
    best_row = next(r for r in rows if r["trial_id"] == best.trial_id)
    cfg = best_config(best, hypermodel, config)
    fileio.write_json_atomic(root / "best_config.json", cfg)
    model = _best_model(tuner)
    test_metrics = _evaluate(model, hypermodel, cfg["batch_size"])
    _save_deployable(model, hypermodel, root / "best_model.keras")
    summary = _summary(config, trials, rows, best, best_row, cfg, test_metrics)
    fileio.write_json_atomic(root / "summary.json", summary)
    print_fn(
        f"best trial {best.trial_id}: val acc {best_row['val_accuracy']:.4f}, "
        f"test acc {test_metrics['test_acc']:.4f}, {best_row['num_params']:,} params "
        f"({len(trials)} trials; outputs in {root})"
    )
    return TuneResult(role, root, rows, best_row, cfg, test_metrics, model)


def _best_trial(tuner: Any, trials: list[Trial], root: Path) -> Trial:
    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
    if not best:
        raise SearchError(
            f"No trial completed ({len(trials)} ran); see {root / 'results.md'} and the "
            "KerasTuner messages above."
        )
    return best[0]


def _best_model(tuner: Any) -> keras.Model:
    """The best epoch of the best trial, as its checkpoint kept it."""
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state, which evaluation never needs.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        return tuner.get_best_models(1)[0]


def _evaluate(model: keras.Model, hypermodel: LeNetHyperModel, batch_size: int) -> dict:
    """`test_loss`, `test_acc`: the test set is read here only, never by a trial."""
    loss, acc = model.evaluate(hypermodel.pipelines(batch_size).test, verbose=0)
    return {"test_loss": float(loss), "test_acc": float(acc)}


def _save_deployable(model: keras.Model, hypermodel: LeNetHyperModel, path: Path) -> None:
    """Saves `model` as a run's model.keras is: taking raw pixels, with its class names."""
    info = data.get_info(hypermodel.dataset)
    mean, std = (info.mean, info.std) if hypermodel.standardize else (0.0, 1.0)
    deployable = models.with_preprocessing(
        model, mean, std, class_names=info.class_names, dataset=info.name
    )
    fileio.save_model_atomic(deployable, path)


def _summary(
    config: TuneConfig,
    trials: list[Trial],
    rows: list[dict[str, Any]],
    best: Trial,
    best_row: dict[str, Any],
    cfg: dict[str, Any],
    test_metrics: dict[str, float],
) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for trial in trials:
        counts[str(trial.status)] = counts.get(str(trial.status), 0) + 1
    return {
        "best_trial": best.trial_id,
        "val_accuracy": best_row["val_accuracy"],
        **test_metrics,
        "num_params": best_row["num_params"],
        "trials": counts,
        "trial_seconds_total": sum(r["seconds"] or 0.0 for r in rows),
        "settings": {
            **{k: v for k, v in dataclasses.asdict(config).items() if k != "space"},
            "space": config.space.to_dict(),
        },
        "best_config": cfg,
        "versions": {**runtime.package_versions(), "keras_tuner": keras_tuner.__version__},
        "command": " ".join(sys.argv),
    }
