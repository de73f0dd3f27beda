"""Training: the book's `train_ch6` as a Keras `fit` with the tooling around it.

`train(config)` builds the data pipelines and the model, trains on CPU or
GPU(s) under the chosen precision and `tf.distribute` strategy, and writes a
run folder:

- `model.keras`: the trained model, taking raw pixels (0-255): its first layer
  scales them as the data pipeline did and its last carries the class names
  (`tfconv.models.with_preprocessing`), so the file works wherever it is copied;
- `metrics.json`: final loss and accuracies, throughput, device, precision,
  wall time, the full configuration and package versions;
- `history.csv`: one row per epoch (train loss, train acc, test acc, ...);
- `curves.png`: the book's animator plot (train loss, train acc, test acc);
- `run.json`: the manifest, the settings that define the run;
- `logs/`: TensorBoard logs; `.work/`: the resume state while running.

The run folder is a transaction (`tfconv.runs`): the outputs are published
together at the end or not at all, a second process on the folder is
refused, and a run killed mid-way and started again with the same settings
resumes from its last finished epoch (exactly, under `deterministic`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.utils import fileio
from tfconv.utils.errors import ConfigError
from tfconv.utils.runtime import describe_device, package_versions

DATASETS = ("fashion_mnist", "mnist")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multiworker")
HISTORY_FIELDS = (
    "epoch",
    "loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "seconds",
    "examples_per_sec",
)


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run.

    `None` in `epochs`, `lr`, `batch_size`, `optimizer`, `schedule` and `augment` means
    "the variant's recipe" (`tfconv.models.get_recipe`), which for `lenet`
    is the book's: SGD, learning rate 0.9, 10 epochs, batch 256.

    Args:
        dataset: `"fashion_mnist"` or `"mnist"`.
        variant: A name from `tfconv.models.list_variants()`.
        layers: `"tfconv"` (tfconv's own layers) or `"keras"` (built-ins).
        epochs: Passes over the training set.
        lr: Learning rate (before any batch-size scaling).
        batch_size: Global minibatch size (split across replicas).
        optimizer: `"sgd"`, `"adam"` or `"adamw"`.
        schedule: `"constant"` learning rate or `"cosine"` decay to 0.
        momentum: SGD momentum (the book uses none).
        weight_decay: Weight decay for `"adamw"`.
        augment: Light augmentation (flips and 2-pixel shifts).
        standardize: Standardise pixels with the dataset's mean and std
            instead of scaling to [0, 1].
        precision: `"auto"`, `"float32"`, `"mixed_float16"` or
            `"mixed_bfloat16"`; auto is `mixed_float16` on a GPU of compute
            capability >= 7.0 and float32 otherwise.
        jit: XLA compilation; `None` leaves Keras's choice (off on CPU).
        strategy: `"default"`, `"mirrored"` (all local GPUs) or
            `"multiworker"` (`TF_CONFIG`).
        seed: Seed of initialisation and data order.
        deterministic: Deterministic ops and data order (reproducible runs).
        steps_per_execution: Batches per compiled call (fewer Python
            round trips; the progress bar then moves in larger steps).
        scale_lr: Scale the learning rate linearly with the batch size
            relative to the recipe's batch (for large GPU batches).
        data_dir: Folder with the official IDX files (see `tfconv.data.load`).
        source: Where to read the data from (see `tfconv.data.load`).
        limit_train: Use only the first N training examples (smoke runs).
        limit_test: Use only the first N test examples.
        model: Overrides of `tfconv.models.ModelConfig` fields.
        verbose: 1 for a progress bar per epoch, 2 for one line per epoch,
            0 for silence.
    """

    dataset: str = "fashion_mnist"
    variant: str = "lenet"
    layers: str = "tfconv"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    schedule: str | None = None
    momentum: float = 0.0
    weight_decay: float = 1e-4
    augment: bool | None = None
    standardize: bool = False
    precision: str = "auto"
    jit: bool | None = None
    strategy: str = "default"
    seed: int = 0
    deterministic: bool = False
    steps_per_execution: int = 1
    scale_lr: bool = False
    data_dir: str | None = None
    source: str = "auto"
    limit_train: int | None = None
    limit_test: int | None = None
    model: dict[str, Any] = dataclasses.field(default_factory=dict)
    verbose: int = 1

    def resolved(self) -> TrainConfig:
        """A copy with the recipe filled in and every field validated."""
        from tfconv import models

        if self.variant not in models.list_variants():
            raise ValueError(
                f"Unknown variant. Valid variants: {', '.join(models.list_variants())}. "
                f"Received: variant={self.variant!r}"
            )
        recipe = models.get_recipe(self.variant)
        cfg = dataclasses.replace(self, model=dict(self.model))
        for name in ("epochs", "lr", "batch_size", "optimizer", "schedule", "augment"):
            if getattr(cfg, name) is None:
                setattr(cfg, name, getattr(recipe, name))
        if cfg.scale_lr:
            # The linear scaling rule; applied once, so the resolved config says so.
            cfg.lr = cfg.lr * cfg.batch_size / recipe.batch_size
            cfg.scale_lr = False
        _check_choice("dataset", cfg.dataset, DATASETS)
        _check_choice("layers", cfg.layers, models.LAYER_BACKENDS)
        _check_choice("optimizer", cfg.optimizer, models.OPTIMIZERS)
        _check_choice("schedule", cfg.schedule, models.SCHEDULES)
        _check_choice("precision", cfg.precision, PRECISIONS)
        _check_choice("strategy", cfg.strategy, STRATEGIES)
        _check_number("epochs", cfg.epochs, minimum=1, integer=True)
        _check_number("batch_size", cfg.batch_size, minimum=1, integer=True)
        _check_number("steps_per_execution", cfg.steps_per_execution, minimum=1, integer=True)
        _check_number("lr", cfg.lr, minimum=0.0, strict=True)
        # Keras's SGD accepts momentum in [0, 1] only, and only as a float.
        _check_number("momentum", cfg.momentum, minimum=0.0, maximum=1.0)
        cfg.momentum = float(cfg.momentum)
        _check_number("weight_decay", cfg.weight_decay, minimum=0.0)
        for name in ("limit_train", "limit_test"):
            if getattr(cfg, name) is not None:
                _check_number(name, getattr(cfg, name), minimum=1, integer=True)
        # Validates the model overrides now rather than after the data loads.
        models.config_from_dict(cfg.model, base=cfg.variant)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(choices)}. Received: {name}={value!r}"
        )


def _check_number(
    name: str,
    value: Any,
    minimum: float,
    strict: bool = False,
    integer: bool = False,
    maximum: float | None = None,
) -> None:
    kinds = (int,) if integer else (int, float)
    bad_type = isinstance(value, bool) or not isinstance(value, kinds)
    # NaN compares false with everything, so it must be refused by name.
    if (
        bad_type
        or not math.isfinite(value)
        or value < minimum
        or (strict and value == minimum)
        or (maximum is not None and value > maximum)
    ):
        what = "an integer" if integer else "a finite number"
        bound = f"> {minimum}" if strict else f">= {minimum}"
        if maximum is not None:
            bound += f" and <= {maximum}"
        raise ValueError(f"`{name}` must be {what} {bound}. Received: {name}={value!r}")


def config_from_file(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Reads a JSON run configuration.

    The file holds `TrainConfig` fields and/or `tfconv.models.ModelConfig`
    fields at its top level (as `tfconv tune` writes `best_config.json`), or
    model fields under `"model"`. Unknown keys are an error.
    """
    from tfconv import models

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"Cannot read the config file: {err}. Received: config={path}") from None
    if not isinstance(data, dict):
        raise ValueError(f"The config file must hold a JSON object. Received: config={path}")
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_fields = {f.name for f in dataclasses.fields(models.ModelConfig)}
    kwargs: dict[str, Any] = {"model": dict(data.pop("model", {}) or {})}
    for key, value in data.items():
        if key in train_fields:
            kwargs[key] = value
        elif key in model_fields:
            kwargs["model"][key] = value
        else:
            raise ValueError(
                f"Unknown key {key!r} in the config file; valid keys are TrainConfig "
                f"fields ({', '.join(sorted(train_fields))}) and model fields "
                f"({', '.join(sorted(model_fields))}). Received: config={path}"
            )
    for key, value in overrides.items():
        if key == "model":
            kwargs["model"].update(value)
        else:
            kwargs[key] = value
    return TrainConfig(**kwargs)


# --------------------------------------------------------------------------
# Device, precision, strategy
# --------------------------------------------------------------------------


def resolve_precision(precision: str) -> str:
    """Maps `"auto"` to `mixed_float16` on a capable GPU, `float32` elsewhere."""
    import tensorflow as tf

    _check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return "mixed_float16"
    # Measured here: on CPU, mixed precision is slower than float32.
    return "float32"


def make_strategy(name: str) -> Any:
    """The `tf.distribute` strategy for `"default"`, `"mirrored"` or `"multiworker"`."""
    import tensorflow as tf

    _check_choice("strategy", name, STRATEGIES)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "`strategy='multiworker'` needs the TF_CONFIG environment variable "
                "(cluster and task). Received: strategy='multiworker'"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy: Any) -> bool:
    """True on the worker that writes outputs (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
    )


def make_optimizer(
    name: str,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    decay_steps: int | None = None,
) -> Any:
    """A Keras optimizer by name, with a constant or cosine-decayed learning rate.

    Args:
        name: `"sgd"`, `"adam"` or `"adamw"`.
        lr: (Initial) learning rate.
        momentum: SGD momentum.
        weight_decay: AdamW's decoupled weight decay.
        schedule: `"constant"` or `"cosine"` (decay to 0 over `decay_steps`).
        decay_steps: Steps of the whole run, needed for `"cosine"`.
    """
    import keras

    rate: Any = lr
    if schedule == "cosine":
        if not decay_steps:
            raise ValueError(
                "A cosine schedule needs the run's length. Received: decay_steps=None"
            )
        rate = keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps)
    elif schedule != "constant":
        raise ValueError(
            f"`schedule` must be 'constant' or 'cosine'. Received: schedule={schedule!r}"
        )
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=momentum)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer. Received: optimizer={name!r}")


def compile_model(
    model: Any,
    optimizer: Any,
    *,
    metrics: bool = True,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
) -> Any:
    """Compiles `model` the one way tfconv trains: sparse cross-entropy on logits.

    Args:
        model: A Keras model whose outputs are logits.
        optimizer: A Keras optimizer (`make_optimizer`).
        metrics: Whether to track accuracy (benchmarks that time steps don't).
        jit_compile: Keras's `jit_compile` (`"auto"`, `True` or `False`).
        steps_per_execution: Batches per compiled call.

    Returns:
        `model`, compiled.
    """
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"] if metrics else None,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


# --------------------------------------------------------------------------
# History and reporting
# --------------------------------------------------------------------------


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a `history.csv` as dicts of floats (empty if there is none)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)
        ]


def write_history(path: str | os.PathLike, rows: list[dict[str, float]]) -> None:
    with fileio.atomic_file(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k)) for k in HISTORY_FIELDS})


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _make_reporter(
    out: Path | None,
    num_train: int,
    epochs: int,
    device: str,
    print_fn: Callable[[str], None],
    history: list[dict[str, float]],
) -> Any:
    """A callback printing the book's per-epoch lines and keeping `history.csv`."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._start = time.perf_counter()
            self._train_seconds = None

        def on_test_begin(self, logs: Mapping | None = None) -> None:
            # Validation runs inside the epoch; throughput counts training only.
            if self._train_seconds is None:
                self._train_seconds = time.perf_counter() - self._start

        def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
            logs = dict(logs or {})
            seconds = self._train_seconds or (time.perf_counter() - self._start)
            row = {
                "epoch": epoch + 1,
                "loss": float(logs.get("loss", float("nan"))),
                "train_acc": float(logs.get("accuracy", float("nan"))),
                "test_loss": float(logs.get("val_loss", float("nan"))),
                "test_acc": float(logs.get("val_accuracy", float("nan"))),
                "seconds": seconds,
                "examples_per_sec": num_train / seconds,
                # Wall time of the whole epoch, validation included.
                "wall": time.perf_counter() - self._start,
            }
            # A resumed run repeats no epoch: drop rows from an interrupted attempt.
            del history[epoch:]
            history.append(row)
            if out is not None:
                write_history(out / "history.csv", history)
            print_fn(
                f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.3f}, "
                f"train acc {row['train_acc']:.3f}, test acc {row['test_acc']:.3f}"
            )
            print_fn(f"{row['examples_per_sec']:.1f} examples/sec on {device}")

    return EpochReporter()


def _make_nan_guard() -> Any:
    import keras

    class StopOnNaN(keras.callbacks.TerminateOnNaN):
        """Keras's `TerminateOnNaN`, remembering why so the run can say so."""

        stopped_at: int | None = None
        stopped_epoch: int | None = None
        _epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._epoch = epoch

        def on_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
            super().on_batch_end(batch, logs)
            if self.model.stop_training and self.stopped_at is None:
                # Keras still ends the epoch (and the reporter adds its row),
                # so the epoch is remembered here, not counted from the history.
                self.stopped_at, self.stopped_epoch = batch, self._epoch + 1

    return StopOnNaN()


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


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
    import hashlib

    digest = hashlib.sha256()
    for a in arrays:
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(np.ascontiguousarray(a).data)
    return digest.hexdigest()


def _make_epoch_keeper(
    epoch_var: Any,
    steps: int,
    history: list[dict[str, float]],
    save: Callable[[], None] | None,
    persist_history: Callable[[list[dict[str, float]]], None] | None,
) -> Any:
    """Feeds the pipeline its epoch and saves the resume state after each epoch.

    The training pipeline reads `epoch_var` when Keras starts iterating it,
    which is after `on_epoch_begin` for the first epoch and right after the
    last batch of the previous one for the others: both set it.
    """
    import keras

    class EpochKeeper(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._epoch = epoch
            epoch_var.assign(epoch)

        def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
            if batch >= steps - 1:
                epoch_var.assign(self._epoch + 1)

        def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
            epoch_var.assign(epoch + 1)
            if self.model.stop_training:
                return  # a diverged epoch is not a resume point
            # History first: a kill between the two leaves a row that the
            # resumed run drops (it keeps as many rows as finished epochs).
            if persist_history is not None:
                persist_history(history)
            if save is not None:
                save()

    return EpochKeeper()


def _agree_with_chief(strategy: Any, chief: bool, value: int) -> int:
    """The chief's `value` on every worker (a collective: also a barrier)."""
    import tensorflow as tf

    local = tf.constant(float(value if chief else 0), tf.float32)
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    return round(float(total))


def _all_equal(strategy: Any, value: int) -> bool:
    """Whether every worker holds the same `value`."""
    import tensorflow as tf

    n = strategy.num_replicas_in_sync
    local = tf.constant([float(value), float(value) ** 2], tf.float32)
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    s, s2 = (float(v) for v in total.numpy())
    return abs(n * s2 - s * s) < 0.5


_ACTIONS = ("fresh", "resume", "finished", "refused")


def train(
    config: TrainConfig,
    out: str | os.PathLike | None = None,
    print_fn: Callable[[str], None] | None = None,
    extra_callbacks: Sequence[Any] = (),
    overwrite: bool = False,
) -> TrainResult:
    """Trains a model as `config` says and writes the run folder `out`.

    The run folder is a transaction (see `tfconv.runs`): its `run.json`
    records the settings that define the run; an interrupted run with the
    same settings resumes from its last finished epoch (exactly, under
    `deterministic`: the same weights, history and metrics as an
    uninterrupted run); a finished one is left as it is; another run's
    folder is refused unless `overwrite`. The outputs are published together
    at the end, or not at all.

    Args:
        config: The run's `TrainConfig`.
        out: Output folder (created). `None` writes nothing (no resume).
        print_fn: Where the per-epoch lines go; default `print`, or nowhere
            when `config.verbose` is 0 (silent but for errors).
        extra_callbacks: More Keras callbacks (e.g. early stopping).
        overwrite: Replace whatever run `out` holds (its outputs stay until
            the new ones are published).

    Returns:
        A `TrainResult`.

    Raises:
        ConfigError: For a bad configuration, an output folder that is not
            writable, busy (another process trains in it) or holds another
            run, or data that cannot be found or read (all found before
            training).
        TrainingDivergedError: If the loss became NaN or infinite.
        tfconv.runs.PublishError: If the outputs could not be written; the
            previous outputs are untouched and the run can be resumed.

    Example:

    >>> result = train(TrainConfig(epochs=1, limit_train=2048), out="saved_models/demo")
    >>> result.metrics["test_acc"]
    """
    import keras
    import tensorflow as tf

    from tfconv import data, runs

    try:
        cfg = config.resolved()
        precision = resolve_precision(cfg.precision)
        strategy = make_strategy(cfg.strategy)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    chief = is_chief(strategy)
    multiworker = cfg.strategy == "multiworker"
    folder = runs.RunFolder(out, write=chief) if out is not None else None
    failed = True
    try:
        try:
            if folder is not None:
                folder.acquire()
            # Seeds first: they define the initial weights.
            if cfg.deterministic:
                tf.config.experimental.enable_op_determinism()
            keras.utils.set_random_seed(cfg.seed)
            with tf.init_scope(), tf.device("/CPU:0"):
                # The training pipeline's epoch, and the resume state's count
                # of finished epochs once an epoch ends.
                epoch_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            pipes = data.pipelines(
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
            action = "fresh"
            settings: dict[str, Any] = {}
            refusal: Exception | None = None
            if folder is not None:
                arrays = data.load(cfg.dataset, data_dir=cfg.data_dir, source=cfg.source)
                settings = run_settings(cfg, precision, data_fingerprint([*arrays[0], *arrays[1]]))
                try:
                    action = folder.decide(settings, overwrite=overwrite)
                except runs.RunFolderError as err:
                    action, refusal = "refused", err
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
        if multiworker and folder is not None:
            # The chief decides for all: every worker must run the same epochs.
            action = _ACTIONS[_agree_with_chief(strategy, chief, _ACTIONS.index(action))]
            if action != "refused":
                refusal = None
            elif refusal is None:
                refusal = ConfigError(
                    f"The chief worker refused the run folder (see its message). "
                    f"Received: out={str(out)!r}"
                )
        if refusal is not None:
            raise ConfigError(str(refusal)) from refusal
        if action == "finished":
            failed = False
            return _finished_result(Path(out))
        result = _run(
            cfg, precision, strategy, chief, pipes, epoch_var, folder, print_fn, extra_callbacks
        )
        failed = False
        if action == "resume":
            result.status = "resumed"
        return result
    finally:
        if folder is not None:
            folder.close(failed=failed)


def _finished_result(out: Path) -> TrainResult:
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


def _run(
    cfg: TrainConfig,
    precision: str,
    strategy: Any,
    chief: bool,
    pipes: Any,
    epoch_var: Any,
    folder: Any,
    print_fn: Callable[[str], None],
    extra_callbacks: Sequence[Any],
) -> TrainResult:
    """Builds, restores, trains and publishes: the run after its folder is settled."""
    import keras
    import tensorflow as tf

    from tfconv import models

    multiworker = cfg.strategy == "multiworker"
    device = describe_device()
    if print_fn is None:
        print_fn = print if cfg.verbose else (lambda _: None)
    previous_policy = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    scratch = None
    try:
        with strategy.scope():
            model = models.build(cfg.variant, layers=cfg.layers, **cfg.model)
            optimizer = make_optimizer(
                cfg.optimizer,
                cfg.lr,
                cfg.momentum,
                cfg.weight_decay,
                cfg.schedule,
                decay_steps=cfg.epochs * pipes.steps_per_epoch,
            )
            compile_model(
                model,
                optimizer,
                jit_compile="auto" if cfg.jit is None else cfg.jit,
                steps_per_execution=cfg.steps_per_execution,
            )
            # The optimizer's slots must exist for the checkpoint to fill them.
            model.optimizer.build(model.trainable_variables)
        history: list[dict[str, float]] = []
        save = None
        if folder is not None:
            ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=epoch_var)
            # Every worker restores from the chief's checkpoint (TensorFlow's
            # multi-worker recipe; the folder must be one all workers share).
            latest = tf.train.latest_checkpoint(str(folder.checkpoint_dir))
            if latest:
                ckpt.restore(latest).assert_existing_objects_matched()
            else:
                epoch_var.assign(0)
            if multiworker and not _all_equal(strategy, int(epoch_var.numpy())):
                raise RuntimeError(
                    f"The workers found different checkpoints in {folder.checkpoint_dir}: "
                    "--out must be a folder that every worker sees."
                )
            if chief:
                history = folder.read_history()[: int(epoch_var.numpy())]
                manager = tf.train.CheckpointManager(
                    ckpt, str(folder.checkpoint_dir), max_to_keep=1
                )
            else:
                # Non-chief workers take part in saving (a collective under
                # multi-worker) into a scratch folder they delete.
                scratch = Path(tempfile.mkdtemp(prefix="tfconv-worker-"))
                manager = tf.train.CheckpointManager(ckpt, str(scratch), max_to_keep=1)

            def save() -> None:
                manager.save()
                if scratch is not None:
                    shutil.rmtree(scratch, ignore_errors=True)

        initial_epoch = int(epoch_var.numpy())
        reporter = _make_reporter(
            None,
            pipes.num_train,
            cfg.epochs,
            device,
            print_fn if chief else (lambda _: None),
            history,
        )
        keeper = _make_epoch_keeper(
            epoch_var,
            pipes.steps_per_epoch,
            history,
            save,
            folder.write_history if (folder is not None and chief) else None,
        )
        nan_guard = _make_nan_guard()
        # Our own progress bar first, so each epoch's summary prints after it;
        # the keeper after the reporter, whose row it saves.
        callbacks = [nan_guard, reporter, keeper, *extra_callbacks]
        if chief and cfg.verbose:
            callbacks.insert(0, keras.callbacks.ProgbarLogger())
        if folder is not None and chief:
            callbacks.append(
                keras.callbacks.TensorBoard(
                    str(folder.path / "logs"), profile_batch=0, write_graph=not multiworker
                )
            )
        start = time.perf_counter()
        if initial_epoch < cfg.epochs:
            if multiworker:
                fit_custom_loop(model, strategy, pipes, cfg.epochs, callbacks, initial_epoch)
            else:
                model.fit(
                    pipes.train,
                    epochs=cfg.epochs,
                    initial_epoch=initial_epoch,
                    validation_data=pipes.test,
                    callbacks=callbacks,
                    verbose=cfg.verbose if chief else 0,
                    shuffle=False,  # the pipeline shuffles per example; Keras cannot
                )
        wall = time.perf_counter() - start
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    if nan_guard.stopped_at is not None:
        raise TrainingDivergedError(
            f"The loss became NaN or infinite in epoch {nan_guard.stopped_epoch}, batch "
            f"{nan_guard.stopped_at}; training was stopped. Try a smaller learning rate "
            f"(lr={cfg.lr}) or float32 precision (precision={precision})."
        )

    last = history[-1] if history else {}
    throughputs = [r["examples_per_sec"] for r in history]
    walls = [r.get("wall") for r in history]
    metrics = {
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
        "device": device,
        "precision": precision,
        "strategy": cfg.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "num_params": model.count_params(),
        "num_train": pipes.num_train,
        "num_test": pipes.num_test,
        "config": cfg.to_dict(),
        "versions": package_versions(),
        "command": " ".join(sys.argv),
    }
    if folder is not None and chief:
        from tfconv import data, viz

        info = data.get_info(cfg.dataset)
        mean, std = (info.mean, info.std) if cfg.standardize else (0.0, 1.0)
        deployable = models.with_preprocessing(
            model, mean, std, class_names=info.class_names, dataset=info.name
        )
        folder.publish(
            {
                "model.keras": deployable.save,
                "metrics.json": lambda path: path.write_text(json.dumps(metrics, indent=2) + "\n"),
                "history.csv": lambda path: write_history(path, history),
                "curves.png": lambda path: viz.save_figure(
                    viz.plot_curves(history, title=f"{cfg.variant} on {cfg.dataset}"), path
                ),
            }
        )
    return TrainResult(model=model, history=history, metrics=metrics, out=folder and folder.path)


def fit_custom_loop(
    model: Any,
    strategy: Any,
    pipes: Any,
    epochs: int,
    callbacks: list[Any],
    initial_epoch: int = 0,
) -> None:
    """`model.fit` for `MultiWorkerMirroredStrategy`, as a custom training loop.

    Keras 3's `fit` fails under the collective strategy (it reduces an
    `(x, y)` batch with `strategy.reduce`; keras-team/keras#20585), so this
    loop does the same job with `strategy.run` and drives the same callbacks
    (progress bar, NaN guard, epoch reporter, the resume state's keeper,
    TensorBoard) through Keras's `CallbackList`, from `initial_epoch` on.
    """
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    global_batch = pipes.batch_size

    @tf.function
    def train_step(x, y):
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = loss_fn(y, logits)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses or [0.0]))
                scaled = model.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return _sums(per_example, logits, y)

        return _reduce(strategy, strategy.run(step, args=(x, y)))

    @tf.function
    def test_step(x, y):
        def step(x, y):
            logits = model(x, training=False)
            return _sums(loss_fn(y, logits), logits, y)

        return _reduce(strategy, strategy.run(step, args=(x, y)))

    train_data = strategy.experimental_distribute_dataset(pipes.train)
    test_data = strategy.experimental_distribute_dataset(pipes.test)
    cb = keras.callbacks.CallbackList(
        callbacks, model=model, epochs=epochs, steps=pipes.steps_per_epoch, verbose=1
    )
    model.stop_training = False
    cb.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cb.on_epoch_begin(epoch)  # sets the pipeline's epoch before `iter` below
        totals = np.zeros(3)
        for step, (x, y) in enumerate(train_data):
            totals += [float(v) for v in train_step(x, y)]
            logs = {"loss": totals[0] / totals[2], "accuracy": totals[1] / totals[2]}
            cb.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        if model.stop_training:
            break
        cb.on_test_begin()
        val = np.zeros(3)
        for x, y in test_data:
            val += [float(v) for v in test_step(x, y)]
        logs.update(val_loss=val[0] / val[2], val_accuracy=val[1] / val[2])
        cb.on_test_end()
        cb.on_epoch_end(epoch, logs)
    cb.on_train_end()


def _sums(per_example_loss: Any, logits: Any, labels: Any) -> tuple[Any, Any, Any]:
    import tensorflow as tf

    predicted = tf.cast(tf.argmax(logits, axis=-1), labels.dtype)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))
    count = tf.cast(tf.size(labels), tf.float32)
    return tf.reduce_sum(tf.cast(per_example_loss, tf.float32)), correct, count


def _reduce(strategy: Any, values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(strategy.reduce("SUM", v, axis=None) for v in values)
