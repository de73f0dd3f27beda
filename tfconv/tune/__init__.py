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
- `best_model.keras`: the best trial's model (its best epoch, taking raw pixels), evaluated once
  on the test set (the trials only ever see a validation split carved from
  the training set);
- `summary.json`: best trial, validation and test accuracy, trial counts;
- `tfconv_search.json`: the search's settings, so that a folder is never
  resumed by a different search.

Hyperparameter names are the field names of `tfconv.train.TrainConfig` and
`tfconv.models.ModelConfig`, optionally behind a KerasTuner name scope for the
choice they depend on: the field is the part after the last `/`.

| name | values | field |
| --- | --- | --- |
| `conv_channels` | `"8,16"` ... `"32,64,128,128"` (2-4 blocks) | `conv_channels` |
| `kernel_size` | 3, 5, 7 | `kernel_size` (`first_padding` = k // 2) |
| `conv_padding` | `"same"`, `"valid"` (2-block stacks only) | `conv_padding` |
| `pooling` | `"max"`, `"avg"` | `pooling` |
| `activation` | `"relu"`, `"gelu"`, `"sigmoid"` | `activation` |
| `dense_units` | `"64"` ... `"256,128,64"` (1-3 layers) | `dense_units` |
| `batch_norm` | False, True | `batch_norm` |
| `dropout` | 0.0-0.5, step 0.1 | `dropout` |
| `initializer` | `"he_normal"`, `"glorot_uniform"` | `initializer` |
| `optimizer` | `"adam"`, `"sgd"` | `optimizer` |
| `adam/lr` | 1e-4-1e-2, log (Adam only) | `lr` |
| `sgd/lr` | 1e-2-1.0, log (SGD only) | `lr` |
| `sgd/momentum` | 0.0, 0.5, 0.9 (SGD only) | `momentum` |
| `batch_size` | 64, 128, 256 | `batch_size` |
| `tuner/epochs` | Hyperband's own | `epochs` |

The tuple fields are single choices of comma-separated widths (KerasTuner
values are scalars): a stack doubles its width block by block (capped at 128),
a dense head halves it layer by layer. Stacks of 3 or more blocks use `"same"`
padding so that they fit 28×28; the first convolution pads by `k // 2` so that
it keeps the image size, as the book's 5×5 LeNet does.

Example:

>>> result = search(TuneConfig(max_trials=3, epochs=1, limit_train=2048), "saved_models/tune/demo")
>>> result.best["val_accuracy"], result.test_metrics["test_acc"]
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import tensorflow as tf
from keras_tuner.engine.trial import Trial, TrialStatus

from tfconv import data, models, train
from tfconv.utils import fileio, runtime

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


class SearchError(RuntimeError):
    """The search itself failed (e.g. no trial completed); exit status 1."""


# --------------------------------------------------------------------------
# The search space
# --------------------------------------------------------------------------


def _widths(first: int, depth: int, factor: float, cap: int = 128) -> str:
    return ",".join(str(max(1, min(cap, int(first * factor**i)))) for i in range(depth))


def _parse_widths(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in str(value).split(","))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The values each hyperparameter may take (see the module docstring).

    Every field but `dropout` and `lr` is a tuple of choices; tuple-valued
    model fields are comma-separated strings such as `"16,32,64"`. The
    defaults (what grid search tries first) are `tfconv.models`'s
    `lenet_modern` wherever the space holds its values.

    Args:
        conv_channels: Convolution stacks, one string of widths per choice.
        kernel_size: Convolution window sides.
        conv_padding: Padding of later convolutions, tuned for 2-block stacks
            only (deeper ones need `"same"` to fit 28×28).
        pooling: Pooling kinds.
        activation: Activation functions.
        dense_units: Dense heads, one string of widths per choice.
        batch_norm: Batch-norm settings.
        dropout: `(min, max, step)` of the dropout rate.
        initializer: Kernel initializers.
        optimizer: Optimizers.
        lr: Per optimizer, `(min, max)` of the log-uniform learning rate.
        momentum: SGD momentum values.
        batch_size: Batch sizes.
    """

    conv_channels: tuple[str, ...] = tuple(
        _widths(base, depth, 2) for depth in (2, 3, 4) for base in (8, 16, 32)
    )
    kernel_size: tuple[int, ...] = (3, 5, 7)
    conv_padding: tuple[str, ...] = ("same", "valid")
    pooling: tuple[str, ...] = ("max", "avg")
    activation: tuple[str, ...] = ("relu", "gelu", "sigmoid")
    dense_units: tuple[str, ...] = tuple(
        _widths(first, depth, 0.5, cap=256) for depth in (1, 2, 3) for first in (64, 128, 256)
    )
    batch_norm: tuple[bool, ...] = (False, True)
    dropout: tuple[float, float, float] = (0.0, 0.5, 0.1)
    initializer: tuple[str, ...] = ("he_normal", "glorot_uniform")
    optimizer: tuple[str, ...] = ("adam", "sgd")
    lr: Mapping[str, tuple[float, float]] = dataclasses.field(
        default_factory=lambda: {"adam": (1e-4, 1e-2), "sgd": (1e-2, 1.0)}
    )
    momentum: tuple[float, ...] = (0.0, 0.5, 0.9)
    batch_size: tuple[int, ...] = (64, 128, 256)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for the search folder's marker)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Mapping):
                value = {k: list(v) for k, v in value.items()}
            out[field.name] = list(value)
        return out


# lenet_modern's settings: a sensible first trial for grid search.
_PREFERRED = {
    "conv_channels": "16,32,64",
    "kernel_size": 3,
    "conv_padding": "same",
    "pooling": "max",
    "activation": "relu",
    "dense_units": "128",
    "batch_norm": True,
    "initializer": "he_normal",
    "optimizer": "adam",
    "momentum": 0.9,
    "batch_size": 128,
}


def _default(name: str, values: Sequence[Any]) -> Any:
    preferred = _PREFERRED.get(name)
    return preferred if preferred in values else values[0]


def declare(hp: keras_tuner.HyperParameters, space: SearchSpace | None = None) -> dict[str, Any]:
    """Declares the search space on `hp` and returns the fields it stands for.

    The one place that maps hyperparameters to configuration fields: the
    hypermodel builds from it, and the results table and `best_config.json`
    are written from it, so they cannot disagree. Calling it on a trial's
    `HyperParameters` (whose values are set) just reads the values back.

    Args:
        hp: The `HyperParameters` to declare on (and read from).
        space: The search space; default `SearchSpace()`.

    Returns:
        `TrainConfig` fields (`optimizer`, `lr`, `momentum`, `batch_size`)
        and a `"model"` dict of `ModelConfig` overrides (lists for tuples).
    """
    space = space or SearchSpace()

    def choice(name: str, values: Sequence[Any]) -> Any:
        values = list(values)
        return hp.Choice(name, values, default=_default(name, values))

    conv = choice("conv_channels", space.conv_channels)
    channels = _parse_widths(conv)
    kernel = choice("kernel_size", space.kernel_size)
    shallow = [c for c in space.conv_channels if len(_parse_widths(c)) <= 2]
    padding = None
    if shallow:
        # Only a 2-block stack fits 28×28 with "valid" padding at every kernel size.
        with hp.conditional_scope("conv_channels", shallow):
            padding = choice("conv_padding", space.conv_padding)
    model = {
        "conv_channels": list(channels),
        "kernel_size": int(kernel),
        "first_padding": int(kernel) // 2,
        "conv_padding": padding if len(channels) <= 2 and padding else "same",
        "pooling": choice("pooling", space.pooling),
        "activation": choice("activation", space.activation),
        "dense_units": list(_parse_widths(choice("dense_units", space.dense_units))),
        "batch_norm": bool(
            hp.Boolean("batch_norm", default=_default("batch_norm", space.batch_norm))
            if len(space.batch_norm) > 1
            else hp.Fixed("batch_norm", bool(space.batch_norm[0]))
        ),
        "initializer": choice("initializer", space.initializer),
    }
    low, high, step = space.dropout
    model["dropout"] = round(float(hp.Float("dropout", low, high, step=step, default=low)), 6)

    optimizer = choice("optimizer", space.optimizer)
    lrs: dict[str, Any] = {}
    momentum = None
    for name in space.optimizer:
        # One learning-rate range per optimizer (SGD wants ~100x Adam's), and
        # one name per range: KerasTuner mixes up two hyperparameters that
        # share a name, so the optimizer's name scope tells them apart.
        with hp.conditional_scope("optimizer", [name]), hp.name_scope(name):
            low, high = space.lr[name]
            lrs[name] = hp.Float("lr", low, high, sampling="log", default=math.sqrt(low * high))
            if name == "sgd":
                momentum = choice("momentum", space.momentum)
    return {
        "optimizer": optimizer,
        "lr": float(lrs[optimizer]),
        "momentum": float(momentum or 0.0),
        "batch_size": int(choice("batch_size", space.batch_size)),
        "model": model,
    }


def count_params(config: models.ModelConfig) -> int:
    """`model.count_params()` of `models.build(config)`, without building it.

    Batch norm counts its 4 per-channel vectors (2 trainable), as Keras does.

    Args:
        config: A `ModelConfig`.

    Returns:
        The number of parameters.
    """
    bn = config.batch_norm
    total = 0
    c_in = config.input_shape[-1]
    k = config.kernel_size
    for c in config.conv_channels:
        total += k * k * c_in * c + (4 * c if bn else c)
        c_in = c
    h, w = models.feature_map_sizes(config)[-1]
    d_in = h * w * c_in
    for units in config.dense_units:
        total += d_in * units + (4 * units if bn else units)
        d_in = units
    return total + d_in * config.num_classes + config.num_classes


# --------------------------------------------------------------------------
# The hypermodel
# --------------------------------------------------------------------------


class LeNetHyperModel(keras_tuner.HyperModel):
    """A `keras_tuner.HyperModel` of the LeNet template.

    `build(hp)` declares the search space (`declare`), applies the precision
    policy (KerasTuner's `clear_session` before every trial resets the global
    dtype policy, so it must be set here) and returns
    `tfconv.models.build(base_variant, layers, **fields)`, compiled.
    `fit(hp, model, ...)` rebuilds the data pipelines with the trial's batch
    size and trains on the training split, validating on the held-out split.

    Args:
        dataset: `"fashion_mnist"` or `"mnist"`.
        space: The `SearchSpace`; default `SearchSpace()`.
        layers: `"keras"` (built-in layers; the faster on CPU) or `"tfconv"`.
        precision: `"auto"`, `"float32"`, `"mixed_float16"` or
            `"mixed_bfloat16"` (see `tfconv.train.resolve_precision`).
        validation_split: Fraction of the training set held out to score
            trials.
        limit_train: Use only the first N training examples (before the
            split).
        limit_test: Use only the first N test examples (the best model's
            evaluation).
        standardize: Standardise pixels instead of scaling to [0, 1].
        seed: Seed of initialisation and data order (the same every trial).
        max_params: Trials whose model has more parameters fail at once.
        data_dir: Passed to `tfconv.data.load`.
        source: Passed to `tfconv.data.load`.
        base_variant: The variant whose fields the hyperparameters override.
    """

    def __init__(
        self,
        dataset: str = "fashion_mnist",
        *,
        space: SearchSpace | None = None,
        layers: str = "keras",
        precision: str = "auto",
        validation_split: float = 0.1,
        limit_train: int | None = None,
        limit_test: int | None = None,
        standardize: bool = False,
        seed: int = 0,
        max_params: int | None = None,
        data_dir: str | None = None,
        source: str = "auto",
        base_variant: str = "lenet",
    ) -> None:
        super().__init__(name="tfconv_lenet", tunable=True)
        self.dataset = dataset
        self.space = space or SearchSpace()
        self.layers = layers
        self.precision = train.resolve_precision(precision)
        self.validation_split = validation_split
        self.limit_train = limit_train
        self.limit_test = limit_test
        self.standardize = standardize
        self.seed = seed
        self.max_params = max_params
        self.data_dir = data_dir
        self.source = source
        self.base_variant = base_variant

    def fields(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The configuration fields `hp` stands for (see `declare`)."""
        return declare(hp, self.space)

    def model_config(self, fields: Mapping[str, Any]) -> models.ModelConfig:
        """The validated `ModelConfig` of `fields` (as `fields` returns them)."""
        return models.config_from_dict(fields["model"], base=self.base_variant)

    def fits_budget(self, fields: Mapping[str, Any]) -> bool:
        """Whether the model of `fields` has at most `max_params` parameters."""
        if self.max_params is None:
            return True
        try:
            return count_params(self.model_config(fields)) <= self.max_params
        except ValueError:
            return False

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """The compiled model of `hp`, built under the precision policy."""
        fields = self.fields(hp)
        keras.mixed_precision.set_dtype_policy(self.precision)
        keras.utils.set_random_seed(self.seed)
        model = models.build(self.base_variant, layers=self.layers, **fields["model"])
        optimizer = train.make_optimizer(fields["optimizer"], fields["lr"], fields["momentum"])
        return train.compile_model(model, optimizer)

    def pipelines(self, batch_size: int) -> data.Pipelines:
        """Training, validation and test pipelines at `batch_size`."""
        return data.pipelines(
            self.dataset,
            batch_size,
            data_dir=self.data_dir,
            source=self.source,
            standardize=self.standardize,
            seed=self.seed,
            limit_train=self.limit_train,
            limit_test=self.limit_test,
            validation_split=self.validation_split,
        )

    def fit(
        self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any
    ) -> dict[str, float]:
        """Trains `model` with the trial's batch size; returns its best epoch's metrics.

        Positional arguments (KerasTuner passes `search`'s through) are
        ignored: the data comes from the hypermodel's own pipelines.
        """
        fields = self.fields(hp)
        num_params = model.count_params()
        if self.max_params is not None and num_params > self.max_params:
            raise keras_tuner.errors.FailedTrialError(
                f"Oversized model: {num_params} parameters > max_params={self.max_params}."
            )
        pipes = self.pipelines(fields["batch_size"])
        callbacks = [*kwargs.pop("callbacks", []), keras.callbacks.TerminateOnNaN()]
        for key in ("x", "y", "validation_data", "batch_size", "shuffle"):
            kwargs.pop(key, None)
        start = time.perf_counter()
        history = model.fit(
            pipes.train,
            validation_data=pipes.val,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles per example; Keras cannot
            **kwargs,
        ).history
        seconds = time.perf_counter() - start
        diverged = not all(math.isfinite(v) for v in history.get("loss", []))
        results = {"num_params": float(num_params), "seconds": seconds, "diverged": diverged}
        scores = [v if math.isfinite(v) else -1.0 for v in history.get(OBJECTIVE, [])]
        if not scores or max(scores) < 0:
            # A diverged trial is a result (a bad one), not a crash to retry.
            return {**results, OBJECTIVE: 0.0, "diverged": 1.0}
        best = max(range(len(scores)), key=scores.__getitem__)
        results.update({name: float(values[best]) for name, values in history.items()})
        return {**results, "diverged": float(diverged)}


# --------------------------------------------------------------------------
# Oracles and tuners: KerasTuner's, with atomic state files and a tolerant reload
# --------------------------------------------------------------------------


class _OracleMixin:
    """Makes a KerasTuner oracle safe to kill at any moment.

    KerasTuner writes `oracle.json` and each `trial.json` in place, so a kill
    during a write leaves a truncated file that breaks the next reload. Here
    every state file is written to a temporary name and renamed; a reload
    also survives a trial file that is unreadable anyway (marked failed), and
    re-queues a trial that was started but never recorded as ongoing.
    """

    budget: Callable[[dict[str, Any]], bool] | None = None

    def save(self) -> None:
        fileio.write_json_atomic(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial: Trial) -> None:
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        fileio.write_json_atomic(path, trial.get_state())

    def reload(self) -> None:
        project = Path(self._project_dir)
        for path in sorted(project.glob("trial_*/trial.json")):
            try:
                trial = Trial.load(str(path))
            except (ValueError, KeyError, TypeError) as err:
                trial_id = path.parent.name[len("trial_") :]
                print(
                    f"tfconv tune: {path} is unreadable ({type(err).__name__}); "
                    f"trial {trial_id} is marked failed.",
                    file=sys.stderr,
                )
                trial = Trial(self.hyperparameters.copy(), trial_id=trial_id)
                trial.status = TrialStatus.FAILED
                trial.message = f"trial.json was unreadable: {err}"
                self._save_trial(trial)
            self.trials[trial.trial_id] = trial
        try:
            state = json.loads(Path(self._get_oracle_fname()).read_text())
        except (OSError, ValueError) as err:
            raise train.ConfigError(
                f"The search state {self._get_oracle_fname()} cannot be read ({err}); "
                "use --overwrite to start the search over."
            ) from None
        state["ongoing_trials"] = {
            tuner: trial_id
            for tuner, trial_id in state.get("ongoing_trials", {}).items()
            if trial_id in self.trials
        }
        self.set_state(state)
        # Trials that were running when the search stopped run again, whole.
        queued = set(self._retry_queue)
        for trial in self.ongoing_trials.values():
            if trial.status == TrialStatus.RUNNING and trial.trial_id not in queued:
                self._retry_queue.append(trial.trial_id)
                queued.add(trial.trial_id)
        self.ongoing_trials = {}
        for trial in self.trials.values():
            if trial.status == TrialStatus.RUNNING and trial.trial_id not in queued:
                self._retry_queue.append(trial.trial_id)

    def _random_values(self) -> dict[str, Any] | None:
        values = super()._random_values()
        if self.budget is None:
            return values
        # Resample until the model fits the parameter budget; the oracles
        # that are not random fall back on random values when they collide.
        for _ in range(200):
            if values is None or self.budget(values):
                return values
            values = super()._random_values()
        return values


class _RandomOracle(_OracleMixin, keras_tuner.oracles.RandomSearchOracle):
    pass


class _BayesianOracle(_OracleMixin, keras_tuner.oracles.BayesianOptimizationOracle):
    def populate_space(self, trial_id: str) -> dict[str, Any]:
        try:
            from threadpoolctl import threadpool_limits  # comes with scikit-learn
        except ImportError:
            response = super().populate_space(trial_id)
        else:
            # The Gaussian process's matrices are tiny: BLAS threads only spin
            # (measured: ~4x slower with 2 threads on a busy 2-core machine).
            with threadpool_limits(limits=1, user_api="blas"):
                response = super().populate_space(trial_id)
        values = response.get("values")
        if response["status"] != TrialStatus.RUNNING or not values:
            return response
        # The Gaussian process never sees failed trials, so it would propose
        # an oversized model again and again; it may also repeat a trial.
        if self._duplicate(values) or (self.budget is not None and not self.budget(values)):
            values = self._random_values()
            if values is None:
                return {"status": TrialStatus.STOPPED, "values": None}
            return {"status": TrialStatus.RUNNING, "values": values}
        return response


class _HyperbandOracle(_OracleMixin, keras_tuner.oracles.HyperbandOracle):
    pass


class _GridOracle(_OracleMixin, keras_tuner.oracles.GridSearchOracle):
    def _get_next_combination(self, values: dict[str, Any]) -> dict[str, Any] | None:
        # Step over the combinations whose model is over the parameter budget.
        values = super()._get_next_combination(values)
        while values is not None and self.budget is not None and not self.budget(values):
            values = super()._get_next_combination(values)
        return values

    def reload(self) -> None:
        super().reload()
        # KerasTuner keeps grid search's cursor only in memory, so a resumed
        # grid search would stop at once; rebuild it from the trials.
        tried = [t for t in self.trials.values() if t.hyperparameters.values]
        key = functools.cmp_to_key(
            lambda a, b: self._compare(a.hyperparameters.values, b.hyperparameters.values)
        )
        self._ordered_ids = type(self._ordered_ids)()
        for trial in sorted(tried, key=key):
            self._ordered_ids.insert(trial.trial_id)
        self._populate_next = [t.trial_id for t in sorted(tried, key=key)]


_ORACLES = {
    "random": _RandomOracle,
    "bayesian": _BayesianOracle,
    "hyperband": _HyperbandOracle,
    "grid": _GridOracle,
}


def _role() -> str:
    """`"chief"`, `"worker"` or `"single"`, from KerasTuner's environment variables.

    KerasTuner's rule: `KERASTUNER_ORACLE_IP` makes a process part of a
    distributed search, and a `KERASTUNER_TUNER_ID` containing `chief` makes
    it the chief.
    """
    env = os.environ
    if "KERASTUNER_ORACLE_IP" not in env:
        return "single"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if v not in env]
    if missing:
        raise ValueError(
            f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} is not: a distributed "
            "search needs all three. Received: "
            f"KERASTUNER_ORACLE_IP={env['KERASTUNER_ORACLE_IP']!r}"
        )
    return "chief" if "chief" in env["KERASTUNER_TUNER_ID"] else "worker"


class _TunerMixin:
    """Atomic state files, one line per trial, and a chief that exits promptly."""

    def save(self) -> None:
        if not self._is_worker():
            self.oracle.save()
        fileio.write_json_atomic(self._get_tuner_fname(), self.get_state())

    def on_trial_begin(self, trial: Trial) -> None:
        super().on_trial_begin(trial)
        print(f"tfconv tune: trial {trial.trial_id} started ({self.tuner_id})", flush=True)

    def on_trial_end(self, trial: Trial) -> None:
        super().on_trial_end(trial)
        ended = self.oracle.get_trial(trial.trial_id)
        line = f"tfconv tune: trial {trial.trial_id} {str(ended.status).lower()}"
        if ended.score is not None:
            line += f", {OBJECTIVE} {ended.score:.4f}"
        metrics = ended.metrics
        if metrics.exists("num_params"):
            line += f", {int(metrics.get_last_value('num_params')):,} params"
        if metrics.exists("seconds"):
            line += f", {metrics.get_last_value('seconds'):.1f} s"
        if trial.message and ended.status != TrialStatus.COMPLETED:
            # KerasTuner keeps the whole traceback; its last line says why.
            line += f": {trial.message.strip().splitlines()[-1]}"
        print(f"{line} ({self.tuner_id})", flush=True)

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        if _role() != "chief":
            super().search(*fit_args, **fit_kwargs)
            return
        try:
            from keras_tuner.src import protos  # noqa: F401
            from keras_tuner.src.distribute import oracle_chief  # noqa: F401
        except ImportError:  # a KerasTuner that moved them: its own, slower loop
            super().search(*fit_args, **fit_kwargs)
            return
        self.oracle.verbose = fit_kwargs.get("verbose", 1)
        self.save()
        _serve_oracle(self.oracle)


def _serve_oracle(oracle: Any) -> None:
    """KerasTuner's chief: serve the oracle over gRPC until every worker is done.

    KerasTuner's own loop (`oracle_chief.start_server`) checks for the end
    every 20 seconds once the first worker is told to stop; this one checks
    twice a second, and says so when the port cannot be bound.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise train.ConfigError(f"The chief cannot listen on {address} (port in use?).")
    server.start()
    print(f"tfconv tune: chief serving the oracle on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(0.5)
    finally:
        server.stop(grace=2)


class _Tuner(_TunerMixin, keras_tuner.Tuner):
    pass


class _HyperbandTuner(_TunerMixin, keras_tuner.Hyperband):
    # Hyperband's __init__ only builds its own oracle; ours replaces it.
    def __init__(self, oracle: Any, hypermodel: Any, **kwargs: Any) -> None:
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


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
    _check_choice("tuner", tuner, TUNERS)
    objective = keras_tuner.Objective(OBJECTIVE, direction="max")
    common = dict(
        objective=objective,
        seed=seed + 1,  # KerasTuner treats seed 0 as "pick one at random".
        max_consecutive_failed_trials=5,
    )
    if tuner == "hyperband":
        oracle = _HyperbandOracle(max_epochs=epochs, factor=3, hyperband_iterations=None, **common)
        oracle.max_trials = max_trials
    elif tuner == "bayesian":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise train.ConfigError(
                "The bayesian tuner needs scikit-learn (pip install scikit-learn). "
                "Received: tuner='bayesian'"
            ) from None
        oracle = _BayesianOracle(
            max_trials=max_trials, num_initial_points=num_initial_points, **common
        )
    else:
        oracle = _ORACLES[tuner](max_trials=max_trials, **common)
    if hypermodel.max_params is not None:

        def budget(values: dict[str, Any]) -> bool:
            hp = oracle.get_space()
            hp.values = dict(values)
            return hypermodel.fits_budget(hypermodel.fields(hp))

        oracle.budget = budget
    cls = _HyperbandTuner if tuner == "hyperband" else _Tuner
    return cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=str(directory),
        project_name=PROJECT,
        overwrite=overwrite,
    )


# --------------------------------------------------------------------------
# The search folder
# --------------------------------------------------------------------------


@dataclasses.dataclass
class TuneConfig:
    """Everything that defines a search (and, in its marker, must not change).

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

    def validate(self) -> TuneConfig:
        """Raises `ValueError` naming the first bad field; returns `self`."""
        if not isinstance(self.space, SearchSpace):
            raise ValueError(f"`space` must be a SearchSpace. Received: space={self.space!r}")
        _check_choice("tuner", self.tuner, TUNERS)
        _check_choice("dataset", self.dataset, train.DATASETS)
        _check_choice("layers", self.layers, models.LAYER_BACKENDS)
        _check_choice("precision", self.precision, train.PRECISIONS)
        _check_choice("source", self.source, ("auto", *data.SOURCES))
        _check_int("max_trials", self.max_trials)
        _check_int("epochs", self.epochs)
        for name in ("limit_train", "limit_test", "max_params"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name))
        split = self.validation_split
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1:
            raise ValueError(
                f"`validation_split` must be a number in (0, 1). "
                f"Received: validation_split={split!r}"
            )
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={self.verbose!r}")
        return self

    def marker(self) -> dict[str, Any]:
        """The settings a resumed search must share with the one it resumes."""
        keys = (
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
        return {
            "tfconv": "search",
            "space_version": SPACE_VERSION,
            **{key: getattr(self, key) for key in keys},
            "space": self.space.to_dict(),
        }


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(choices)}. Received: {name}={value!r}"
        )


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")


def prepare_directory(
    directory: str | os.PathLike, config: TuneConfig, overwrite: bool = False, write: bool = True
) -> bool:
    """Checks that `directory` is this search's (or new) and writes its marker.

    Args:
        directory: The search folder.
        config: The search's `TuneConfig`.
        overwrite: Delete a previous tfconv search in `directory` first.
        write: Write the marker (False on workers, which only check it).

    Returns:
        Whether an earlier run of this search is there to resume.

    Raises:
        ConfigError: If `directory` holds something other than a tfconv
            search (never deleted, even with `overwrite`), or a tfconv search
            with different settings (unless `overwrite`).
    """
    root = Path(directory)
    marker_path = root / MARKER
    wanted = json.loads(json.dumps(config.marker()))
    if not write and not marker_path.exists():
        # A worker may start before its chief has made the folder; the chief checks it.
        return False
    if root.exists() and not root.is_dir():
        raise train.ConfigError(f"`--dir` is not a folder. Received: dir={str(root)!r}")
    found = None
    if marker_path.exists():
        try:
            found = json.loads(marker_path.read_text())
        except (OSError, ValueError):
            found = None
        if not isinstance(found, dict) or found.get("tfconv") != "search":
            raise train.ConfigError(
                f"{marker_path} is not a tfconv search marker; refusing to touch the folder. "
                f"Received: dir={str(root)!r}"
            )
    elif root.exists() and next((p for p in root.rglob("*") if not p.is_dir()), None):
        # Empty folders do not count: an early worker may have made `search/`.
        raise train.ConfigError(
            f"The folder holds files but no {MARKER}: it is not a tfconv search (e.g. "
            f"another KerasTuner project); choose another --dir. Received: dir={str(root)!r}"
        )
    if found is not None and overwrite and write:
        shutil.rmtree(root / PROJECT, ignore_errors=True)
        for name in (*RESULT_FILES, MARKER):
            (root / name).unlink(missing_ok=True)
        found = None
    if found is not None and found != wanted:
        differ = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        details = ", ".join(
            f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} here" for k in differ if k != "space"
        )
        if "space" in differ:
            details = ", ".join(filter(None, [details, "a different search space"]))
        raise train.ConfigError(
            f"The folder holds a different search ({details}); use another --dir, "
            f"or --overwrite to start over. Received: dir={str(root)!r}"
        )
    resume = found is not None and (root / PROJECT / "oracle.json").exists()
    if write and found is None:
        try:
            fileio.check_output_dir(root, "dir")
        except ValueError as err:
            raise train.ConfigError(str(err)) from None
        fileio.write_json_atomic(marker_path, wanted)
    return resume


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def _trial_epochs(trial: Trial, epochs: int) -> int:
    return int(trial.hyperparameters.values.get("tuner/epochs", epochs))


def trial_rows(
    trials: Sequence[Trial], hypermodel: LeNetHyperModel, epochs: int
) -> list[dict[str, Any]]:
    """One dict per trial (`TABLE_COLUMNS`), completed trials best first."""
    rows = []
    for trial in trials:
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
            row["epochs"] = _trial_epochs(trial, epochs)
        rows.append(row)
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


_NUMERIC = {"rank", "val_accuracy", "num_params", "seconds", "epochs", "lr", "batch_size"}


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
        "epochs": _trial_epochs(trial, config.epochs),
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


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


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


def _ensure_tuner_file(directory: Path, tuner_id: str) -> None:
    # KerasTuner reloads a project only if this process's own `<tuner_id>.json`
    # exists, but the oracle's state is in `oracle.json`; without this a chief
    # resuming a search begun without one would start over on top of it.
    project = directory / PROJECT
    if (project / "oracle.json").exists() and not (project / f"{tuner_id}.json").exists():
        fileio.write_json_atomic(project / f"{tuner_id}.json", {})


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
    try:
        config.validate()
        role = _role()
    except (ValueError, RuntimeError) as err:
        raise train.ConfigError(str(err)) from None
    if role == "worker" and overwrite:
        print_fn("tfconv tune: --overwrite is the chief's to do; this worker ignores it.")
        overwrite = False
    prepare_directory(root, config, overwrite=overwrite, write=role != "worker")
    try:
        data.load(config.dataset, data_dir=config.data_dir, source=config.source)
    except (ValueError, data.DataNotFoundError) as err:
        raise train.ConfigError(str(err)) from err
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    _ensure_tuner_file(root, tuner_id)

    hypermodel = LeNetHyperModel(
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
    previous_policy = keras.mixed_precision.dtype_policy()
    tf_logger = tf.get_logger()
    previous_level = tf_logger.level
    # Every trial is a new model, so TensorFlow warns about retracing each time.
    tf_logger.setLevel("ERROR")
    try:
        tuner = make_tuner(
            hypermodel,
            config.tuner,
            directory=root,
            max_trials=config.max_trials,
            epochs=config.epochs,
            seed=config.seed,
            num_initial_points=num_initial_points,
        )
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
                f"The search stopped: {reason[0]} Last error: {reason[-1]} "
                f"(see {root / 'results.md'})"
            ) from None
        if role == "worker":
            return TuneResult(role, root, [], None, None, None)
        return _finish(tuner, hypermodel, config, root, role, print_fn)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
        tf_logger.setLevel(previous_level)


def _finish(
    tuner: Any,
    hypermodel: LeNetHyperModel,
    config: TuneConfig,
    root: Path,
    role: str,
    print_fn: Callable[[str], None],
) -> TuneResult:
    trials = list(tuner.oracle.trials.values())
    rows = trial_rows(trials, hypermodel, config.epochs)
    write_results(root, rows)
    best_trials = [t for t in tuner.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
    if not best_trials:
        raise SearchError(
            f"No trial completed ({len(trials)} ran); see {root / 'results.md'} and the "
            "KerasTuner messages above."
        )
    best = best_trials[0]
    best_row = next(r for r in rows if r["trial_id"] == best.trial_id)
    cfg = best_config(best, hypermodel, config)
    fileio.write_json_atomic(root / "best_config.json", cfg)

    # The best epoch of the best trial, as its checkpoint kept it; the test
    # set is read here only, never by a trial.
    with warnings.catch_warnings():
        # The checkpoint holds the optimizer's state, which evaluation never needs.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.get_best_models(1)[0]
    pipes = hypermodel.pipelines(cfg["batch_size"])
    loss, acc = model.evaluate(pipes.test, verbose=0)
    test_metrics = {"test_loss": float(loss), "test_acc": float(acc)}
    # Saved as a run's model.keras is: taking raw pixels, with its class names.
    info = data.get_info(hypermodel.dataset)
    mean, std = (info.mean, info.std) if hypermodel.standardize else (0.0, 1.0)
    deployable = models.with_preprocessing(
        model, mean, std, class_names=info.class_names, dataset=info.name
    )
    fileio.save_model_atomic(deployable, root / "best_model.keras")
    counts: dict[str, int] = {}
    for trial in trials:
        counts[str(trial.status)] = counts.get(str(trial.status), 0) + 1
    summary = {
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
    fileio.write_json_atomic(root / "summary.json", summary)
    print_fn(
        f"best trial {best.trial_id}: val acc {best_row['val_accuracy']:.4f}, "
        f"test acc {test_metrics['test_acc']:.4f}, {best_row['num_params']:,} params "
        f"({len(trials)} trials; outputs in {root})"
    )
    return TuneResult(role, root, rows, best_row, cfg, test_metrics, model)


# --------------------------------------------------------------------------
# Distributed search on this machine
# --------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _pump(stream: Any, prefix: str, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\r\n")
        with lock:
            print(f"[{prefix}] {line}", flush=True)
    stream.close()


def launch_distributed(
    argv: Sequence[str],
    workers: int,
    oracle_ip: str = "127.0.0.1",
    oracle_port: int | None = None,
    print_fn: Callable[[str], None] = print,
) -> int:
    """Runs a chief and `workers` workers of `tfconv ARGV` on this machine.

    Each is a subprocess running `tfconv ARGV` with KerasTuner's
    environment variables (`KERASTUNER_TUNER_ID` `chief` or `tuner<i>`,
    `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); their output is
    printed line by line behind `[chief]`, `[tuner0]`, .... Workers on other
    machines that share the search folder join with the same command and
    variables (the chief must then listen on an address they can reach).

    Args:
        argv: The `tfconv` arguments of one participant (`tune ...`).
        workers: Local workers to start (0: only the chief).
        oracle_ip: The address the chief listens on.
        oracle_port: Its port (default: a free one).
        print_fn: Where the launcher's own lines go.

    Returns:
        The chief's exit status, or 1 if a worker failed.
    """
    port = oracle_port or free_port("127.0.0.1" if oracle_ip == "0.0.0.0" else oracle_ip)
    connect_ip = "127.0.0.1" if oracle_ip == "0.0.0.0" else oracle_ip
    # Not `-m tfconv.cli`: as `__main__`, the CLI's UsageError would be a
    # different class from the one the subcommands raise, and escape as a traceback.
    code = "import sys; from tfconv.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, *argv]
    lock = threading.Lock()
    procs: dict[str, subprocess.Popen] = {}
    threads = []

    def start(name: str, ip: str) -> None:
        env = dict(
            os.environ,
            KERASTUNER_TUNER_ID=name,
            KERASTUNER_ORACLE_IP=ip,
            KERASTUNER_ORACLE_PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs[name] = proc
        thread = threading.Thread(target=_pump, args=(proc.stdout, name, lock), daemon=True)
        thread.start()
        threads.append(thread)

    print_fn(
        f"tfconv tune: chief on {oracle_ip}:{port} and {workers} local worker(s); more can "
        f"join with KERASTUNER_TUNER_ID=tuner<N> KERASTUNER_ORACLE_IP=<this host> "
        f"KERASTUNER_ORACLE_PORT={port} tfconv {' '.join(argv)}"
    )
    start("chief", oracle_ip)
    for i in range(workers):
        start(f"tuner{i}", connect_ip)

    def stop_all() -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    status = None
    try:
        while status is None:
            chief = procs["chief"].poll()
            failed = [n for n, p in procs.items() if n != "chief" and p.poll() not in (None, 0)]
            if chief is not None:
                # Workers finish before the chief does; any still running
                # after a failed chief would wait for it for an hour.
                if chief != 0:
                    stop_all()
                    status = chief
                else:
                    for proc in procs.values():
                        proc.wait()
                    status = 0
            elif failed:
                # A worker's unfinished trial would keep the chief waiting
                # for ever; rerun the same command to resume (it is retried).
                print_fn(
                    f"tfconv tune: worker(s) {', '.join(failed)} failed; stopping the "
                    "search. Run the same command again to resume it."
                )
                stop_all()
                status = 1
            else:
                time.sleep(0.2)
    except KeyboardInterrupt:
        stop_all()
        raise
    finally:
        for thread in threads:
            thread.join(timeout=5)
    return status
