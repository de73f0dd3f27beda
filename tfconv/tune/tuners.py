"""`make_tuner`: the KerasTuner tuner of a search, its oracle chosen by name and
bound to the hypermodel's parameter budget.
"""

from __future__ import annotations

import os
from typing import Any

import keras_tuner

from tfconv.tune.config import OBJECTIVE, PROJECT, TUNERS
from tfconv.tune.hypermodel import LeNetHyperModel
from tfconv.tune.oracles import ORACLES, HyperbandTuner, Tuner
from tfconv.utils import checks
from tfconv.utils.errors import ConfigError


def make_tuner(
    hypermodel: LeNetHyperModel,
    tuner: str = "random",
    *,
    directory: str | os.PathLike,
    max_trials: int = 10,
    epochs: int = 3,
    seed: int = 0,
    overwrite: bool = False,
    num_initial_points: int | None = None,
) -> keras_tuner.Tuner:
    """A KerasTuner tuner over `hypermodel` whose project is `directory/search`.

    Args:
        hypermodel: The `LeNetHyperModel`.
        tuner: One of `TUNERS`.
        directory: The search folder.
        max_trials: Trials to run at most (for Hyperband, a cap on its own
            schedule, whose brackets repeat until the cap).
        epochs: Epochs per trial (for Hyperband, the most a trial gets).
        seed: The oracle's seed.
        overwrite: Delete KerasTuner's project first.
        num_initial_points: Random trials before Bayesian optimisation fits its
            Gaussian process (default: 3 per hyperparameter).

    Returns:
        The tuner; `tuner.search(epochs=..., verbose=...)` runs it.
    """
    checks.check_choice("tuner", tuner, TUNERS)
    oracle = _make_oracle(tuner, max_trials, epochs, seed, num_initial_points)
    if hypermodel.max_params is not None:
        oracle.budget = _budget(oracle, hypermodel)
    cls = HyperbandTuner if tuner == "hyperband" else Tuner
    return cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(directory),
        project_name=PROJECT,
        overwrite=overwrite,
    )


def _make_oracle(
    tuner: str, max_trials: int, epochs: int, seed: int, num_initial_points: int | None
) -> Any:
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        seed=seed + 1,  # KerasTuner treats seed 0 as "pick one at random".
        max_consecutive_failed_trials=5,
    )
    if tuner == "hyperband":
        oracle = ORACLES[tuner](max_epochs=epochs, factor=3, hyperband_iterations=None, **common)
        oracle.max_trials = max_trials
        return oracle
    if tuner == "bayesian":
        _require_sklearn()
        return ORACLES[tuner](
            max_trials=max_trials, num_initial_points=num_initial_points, **common
        )
    return ORACLES[tuner](max_trials=max_trials, **common)


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError(
            "The bayesian tuner needs scikit-learn (pip install scikit-learn). "
            "Received: tuner='bayesian'"
        ) from None


def _budget(oracle: Any, hypermodel: LeNetHyperModel) -> Any:
    """Whether a candidate's values (a dict, as oracles hold them) fit `max_params`."""

    def budget(values: dict[str, Any]) -> bool:
        hp = oracle.get_space()
        hp.values = dict(values)
        return hypermodel.fits_budget(hypermodel.fields(hp))

    return budget
