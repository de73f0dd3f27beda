"""Training: the book's `train_ch6` as a Keras `fit` with the tooling around it.

`train(config, out)` builds the data pipelines and the model, trains on CPU
or GPU(s) under the chosen precision and `tf.distribute` strategy, and
writes a run folder:

- `model.keras`: the trained model, taking raw pixels (0-255): its first layer
  scales them as the data pipeline did and its last carries the class names
  (`tfconv.models.with_preprocessing`), so the file works wherever it is copied;
- `metrics.json`: final loss and accuracies, throughput, device, precision,
  wall time, the full configuration and package versions;
- `history.csv`: one row per epoch (train loss, train acc, test acc, ...);
- `curves.png`: the book's animator plot (train loss, train acc, test acc);
- `run.json`: the manifest, the settings that define the run;
- `logs/`: TensorBoard logs; `.work/`: the resume state while running.

The run folder is a transaction (`tfconv.train.run_folder`): the outputs are
published together at the end or not at all, a second process on the folder
is refused, and a run killed mid-way and started again with the same
settings resumes from its last finished epoch (exactly, under `deterministic`).

The package, one job per module:

- `config`: `TrainConfig` (checked when made), `config_from_file`, the choices;
- `setup`: precision, distribution strategy, optimizer, the one compile call;
- `callbacks`: the epoch reporter, the NaN guard, the epoch keeper;
- `loop`: `fit_custom_loop`, `fit` for the multi-worker strategy;
- `workers`: who is chief, and agreeing on values across workers;
- `history`: `history.csv`; `curves`: `curves.png`;
- `results`: `TrainResult`, the settings that identify a run, its errors;
- `run_folder`: the run folder as a transaction;
- `prepare`: before training: the config resolved, the folder opened, the
  run's action (fresh, resume, finished, refused) settled;
- `fit`: the run itself: build, restore, fit, summarise, publish;
- `run`: `train`, the sequence of the two.

Importing this package does not load TensorFlow or Keras.
"""

from tfconv.train.callbacks import make_epoch_keeper, make_nan_guard, make_reporter
from tfconv.train.config import (
    DATASETS,
    PRECISIONS,
    RECIPE_FIELDS,
    STRATEGIES,
    TrainConfig,
    config_from_file,
)
from tfconv.train.curves import plot_curves, write_curves
from tfconv.train.history import HISTORY_FIELDS, read_history, write_history
from tfconv.train.loop import fit_custom_loop
from tfconv.train.results import (
    TrainingDivergedError,
    TrainResult,
    data_fingerprint,
    run_settings,
)
from tfconv.train.run import train
from tfconv.train.run_folder import PublishError, RunFolder, RunFolderError
from tfconv.train.setup import compile_model, make_optimizer, make_strategy, resolve_precision
from tfconv.train.workers import is_chief
from tfconv.utils.errors import ConfigError

__all__ = [
    "DATASETS",
    "HISTORY_FIELDS",
    "PRECISIONS",
    "RECIPE_FIELDS",
    "STRATEGIES",
    "ConfigError",
    "PublishError",
    "RunFolder",
    "RunFolderError",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "compile_model",
    "config_from_file",
    "data_fingerprint",
    "fit_custom_loop",
    "is_chief",
    "make_epoch_keeper",
    "make_nan_guard",
    "make_optimizer",
    "make_reporter",
    "make_strategy",
    "plot_curves",
    "read_history",
    "resolve_precision",
    "run_settings",
    "train",
    "write_curves",
    "write_history",
]
