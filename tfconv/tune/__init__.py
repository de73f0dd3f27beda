"""Hyperparameter search over the LeNet template with KerasTuner.

`search(config, directory)` runs a KerasTuner search (random, Bayesian,
Hyperband or grid) whose `HyperModel.build(hp)` calls the same factory as
`tfconv train`, `tfconv.models.build`, and writes to `directory`:

- `search/`: KerasTuner's project (oracle state, one `trial_*` folder per
  trial); re-running the same search resumes from it;
- `results.csv`, `results.md`: every trial, best first: its settings,
  parameter count, validation accuracy and time;
- `best_config.json`: the best trial's settings as `TrainConfig` and
  `ModelConfig` fields, for `tfconv train --config best_config.json`;
- `best_model.keras`: the best trial's model (its best epoch, taking raw
  pixels), evaluated once on the test set (the trials only ever see a
  validation split carved from the training set);
- `summary.json`: best trial, validation and test accuracy, trial counts;
- `tfconv_search.json`: the search's settings, so that a folder is never
  resumed by a different search.

The package, one job per module (KerasTuner's `tuners/` layout):

- `space`: `SearchSpace` and `declare` (the hyperparameters, their names
  and values: see its docstring for the table);
- `config`: `TuneConfig` and the folder's names (`TUNERS`, `OBJECTIVE`, ...);
- `hypermodel`: `LeNetHyperModel` and `count_params`;
- `oracles`: every KerasTuner private override (atomic state, resume,
  parameter budget, the gRPC chief), each naming the upstream bug;
- `tuners`: `make_tuner`;
- `directory`: `prepare_directory`, the folder's guard and marker;
- `results`: the trial table, `best_config`, `TuneResult`;
- `run`: `search` itself;
- `distributed`: a process's role and `launch_distributed`.

Example:

>>> result = search(TuneConfig(max_trials=3, epochs=1, limit_train=2048), "saved_models/tune/demo")
>>> result.best["val_accuracy"], result.test_metrics["test_acc"]
"""

from tfconv.tune.config import (
    MARKER,
    OBJECTIVE,
    PROJECT,
    RESULT_FILES,
    SPACE_VERSION,
    TUNERS,
    TuneConfig,
)
from tfconv.tune.directory import prepare_directory
from tfconv.tune.distributed import free_port, launch_distributed
from tfconv.tune.hypermodel import LeNetHyperModel, count_params
from tfconv.tune.results import (
    TABLE_COLUMNS,
    TABLE_FIELDS,
    TuneResult,
    best_config,
    trial_rows,
    write_results,
)
from tfconv.tune.run import SearchError, search
from tfconv.tune.space import SearchSpace, declare
from tfconv.tune.tuners import make_tuner

__all__ = [
    "MARKER",
    "OBJECTIVE",
    "PROJECT",
    "RESULT_FILES",
    "SPACE_VERSION",
    "TABLE_COLUMNS",
    "TABLE_FIELDS",
    "TUNERS",
    "LeNetHyperModel",
    "SearchError",
    "SearchSpace",
    "TuneConfig",
    "TuneResult",
    "best_config",
    "count_params",
    "declare",
    "free_port",
    "launch_distributed",
    "make_tuner",
    "prepare_directory",
    "search",
    "trial_rows",
    "write_results",
]
