"""What defines a training run: `TrainConfig`, its checks, and reading one from JSON."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from tfconv.utils.checks import check_choice, check_number

DATASETS = ("fashion_mnist", "mnist")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multiworker")
# Fields whose `None` means "the variant's recipe" (`tfconv.models.get_recipe`).
RECIPE_FIELDS = ("epochs", "lr", "batch_size", "optimizer", "schedule", "augment")


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run.

    `None` in `epochs`, `lr`, `batch_size`, `optimizer`, `schedule` and `augment` means
    "the variant's recipe" (`tfconv.models.get_recipe`), which for `lenet`
    is the book's: SGD, learning rate 0.9, 10 epochs, batch 256.

    Every field is checked when the config is made (and again by
    `dataclasses.replace`); `resolved()` fills in the recipe.

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

    Raises:
        ValueError: For a bad value, naming the field (`Received: name=value`).
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

    def __post_init__(self) -> None:
        # Imported here: `tfconv.models` loads Keras, which `tfconv --help` need not.
        from tfconv import models

        variants = models.list_variants()
        if self.variant not in variants:
            raise ValueError(
                f"Unknown variant. Valid variants: {', '.join(variants)}. "
                f"Received: variant={self.variant!r}"
            )
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("layers", self.layers, models.LAYER_BACKENDS)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, models.OPTIMIZERS)
        if self.schedule is not None:
            check_choice("schedule", self.schedule, models.SCHEDULES)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("strategy", self.strategy, STRATEGIES)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), minimum=1, integer=True)
        check_number("steps_per_execution", self.steps_per_execution, minimum=1, integer=True)
        if self.lr is not None:
            check_number("lr", self.lr, minimum=0.0, strict=True)
        # Keras's SGD accepts momentum in [0, 1] only, and only as a float.
        self.momentum = float(check_number("momentum", self.momentum, minimum=0.0, maximum=1.0))
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        for name in ("limit_train", "limit_test"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), minimum=1, integer=True)
        # The model overrides are checked now rather than after the data loads.
        models.config_from_dict(self.model, base=self.variant)

    def resolved(self) -> TrainConfig:
        """A copy with the variant's recipe filled in and `scale_lr` applied.

        Resolution only: the values were checked when the config was made,
        and the copy is checked again as it is made.
        """
        from tfconv import models

        recipe = models.get_recipe(self.variant)
        filled = {name: getattr(recipe, name) for name in RECIPE_FIELDS}
        filled = {name: value for name, value in filled.items() if getattr(self, name) is None}
        cfg = dataclasses.replace(self, model=dict(self.model), **filled)
        if cfg.scale_lr:
            # The linear scaling rule; applied once, so the resolved config says so.
            lr = cfg.lr * cfg.batch_size / recipe.batch_size
            cfg = dataclasses.replace(cfg, lr=lr, scale_lr=False)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_file(path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """Reads a JSON run configuration.

    The file holds `TrainConfig` fields and/or `tfconv.models.ModelConfig`
    fields at its top level (as `tfconv tune` writes `best_config.json`), or
    model fields under `"model"`. Unknown keys are an error.

    Args:
        path: The JSON file.
        **overrides: `TrainConfig` fields that replace the file's (`model`
            updates the file's model fields).

    Returns:
        The `TrainConfig`.

    Raises:
        ValueError: The file cannot be read, holds an unknown key or a bad value.
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
