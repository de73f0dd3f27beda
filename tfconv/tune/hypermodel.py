"""`LeNetHyperModel`: builds and trains one trial's model from its hyperparameters
with the same factory as `tfconv train`, and `count_params` to price a
candidate without building it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import keras
import keras_tuner

from tfconv import data, models, train
from tfconv.tune.config import OBJECTIVE
from tfconv.tune.space import SearchSpace, declare


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
        return _best_epoch(history, num_params, seconds)


def _best_epoch(history: Mapping[str, list], num_params: int, seconds: float) -> dict[str, float]:
    """The metrics of the epoch with the best objective, plus the trial's own facts."""
    diverged = not all(math.isfinite(v) for v in history.get("loss", []))
    results = {"num_params": float(num_params), "seconds": seconds, "diverged": diverged}
    scores = [v if math.isfinite(v) else -1.0 for v in history.get(OBJECTIVE, [])]
    if not scores or max(scores) < 0:
        # A diverged trial is a result (a bad one), not a crash to retry.
        return {**results, OBJECTIVE: 0.0, "diverged": 1.0}
    best = max(range(len(scores)), key=scores.__getitem__)
    results.update({name: float(values[best]) for name, values in history.items()})
    return {**results, "diverged": float(diverged)}
