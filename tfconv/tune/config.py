"""`TuneConfig`, everything that defines a search, checked when it is made, and
the names a search folder is built from (`TUNERS`, `OBJECTIVE`, `MARKER`, ...).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfconv import data, models, train
from tfconv.tune.space import SearchSpace
from tfconv.utils import checks

TUNERS = ("random", "bayesian", "hyperband", "grid")
OBJECTIVE = "val_accuracy"
MARKER = "tfconv_search.json"
PROJECT = "search"
RESULT_FILES = (
    "results.csv",
    "results.md",
    "best_config.json",
    "best_model.keras",
    "summary.json",
)
# Bumped whenever the meaning of the hyperparameters changes, so that an old
# search folder is refused rather than resumed with different semantics.
SPACE_VERSION = 1

# The settings a resumed search must share with the one it resumes.
_MARKER_KEYS = (
    "dataset",
    "tuner",
    "epochs",
    "validation_split",
    "layers",
    "precision",
    "standardize",
    "seed",
    "max_params",
    "limit_train",
)


@dataclasses.dataclass
class TuneConfig:
    """Everything that defines a search (and, in its marker, must not change).

    Every field is checked when the config is made (`ValueError` naming the
    field); `validate()` checks again after fields were reassigned.

    Args:
        dataset: `"fashion_mnist"` or `"mnist"`.
        tuner: `"random"`, `"bayesian"`, `"hyperband"` or `"grid"`.
        max_trials: Trials to run at most; may grow when a search resumes.
        epochs: Epochs per trial (Hyperband: the most any trial gets).
        validation_split: Fraction of the training set that scores trials.
        layers: `"keras"` (faster on CPU) or `"tfconv"`.
        precision: As `TrainConfig.precision`.
        standardize: Standardise pixels instead of scaling to [0, 1].
        seed: Seed of the oracle, initialisation and data order.
        max_params: Largest model (parameters) a trial may build.
        limit_train: Use only the first N training examples (smoke runs).
        limit_test: Use only the first N test examples.
        data_dir: Where the data is (see `tfconv.data.load`).
        source: Where to read the data from (see `tfconv.data.load`).
        verbose: 0 silent, 1 progress bars, 2 one line per epoch.
        space: The `SearchSpace` (the command line always uses the default).
    """

    dataset: str = "fashion_mnist"
    tuner: str = "random"
    max_trials: int = 10
    epochs: int = 3
    validation_split: float = 0.1
    layers: str = "keras"
    precision: str = "auto"
    standardize: bool = False
    seed: int = 0
    max_params: int | None = None
    limit_train: int | None = None
    limit_test: int | None = None
    data_dir: str | None = None
    source: str = "auto"
    verbose: int = 2
    space: SearchSpace = dataclasses.field(default_factory=SearchSpace)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TuneConfig:
        """Raises `ValueError` naming the first bad field; returns `self`."""
        if not isinstance(self.space, SearchSpace):
            raise ValueError(f"`space` must be a SearchSpace. Received: space={self.space!r}")
        checks.check_choice("tuner", self.tuner, TUNERS)
        checks.check_choice("dataset", self.dataset, train.DATASETS)
        checks.check_choice("layers", self.layers, models.LAYER_BACKENDS)
        checks.check_choice("precision", self.precision, train.PRECISIONS)
        checks.check_choice("source", self.source, ("auto", *data.SOURCES))
        checks.check_int("max_trials", self.max_trials)
        checks.check_int("epochs", self.epochs)
        for name in ("limit_train", "limit_test", "max_params"):
            if getattr(self, name) is not None:
                checks.check_int(name, getattr(self, name))
        # A split that leaves both sides non-empty.
        checks.check_number(
            "validation_split", self.validation_split, 0, strict=True, maximum=1, strict_max=True
        )
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={self.verbose!r}")
        return self

    def marker(self) -> dict[str, Any]:
        """The settings a resumed search must share with the one it resumes."""
        return {
            "tfconv": "search",
            "space_version": SPACE_VERSION,
            **{key: getattr(self, key) for key in _MARKER_KEYS},
            "space": self.space.to_dict(),
        }
