"""The model to export, made ready: loaded from a run folder or `.keras` file,
taking raw pixels, and computing in float32.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.export.errors import ExportError


def read_run_config(folder: Path, strict: bool = False) -> dict[str, Any]:
    """The `config` of a run's `metrics.json` (empty when there is none).

    With `strict`, an unreadable file is an error instead of an empty config:
    a legacy model's preprocessing is read from it and must not be guessed.
    """
    path = folder / "metrics.json"
    if not path.is_file():
        return {}
    try:
        metrics = json.loads(path.read_text())
        if strict and not isinstance(metrics, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        if not strict:
            return {}
        raise ValueError(
            f"The model carries no preprocessing (it was saved by an older tfconv) and "
            f"{path} beside it, which would say which, is unreadable ({err}). Pass "
            f"--standardize or --no-standardize (standardize=True/False). "
            f"Received: model={os.fspath(folder)!r}"
        ) from None
    config = dict(metrics.get("config") or {}) if isinstance(metrics, dict) else {}
    if isinstance(metrics, dict) and metrics.get("precision"):
        config.setdefault("resolved_precision", metrics["precision"])
    return config


def _resolve_model_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"No such file or folder. Received: model={os.fspath(path)!r}")
    if p.is_dir():
        if (p / "model.keras").is_file():
            return p / "model.keras"
        raise ValueError(
            "The folder holds no model.keras (expected a run folder written by "
            f"`tfconv train` or a .keras file). Received: model={os.fspath(path)!r}"
        )
    if p.suffix != ".keras":
        raise ValueError(
            f"Expected a run folder or a .keras file. Received: model={os.fspath(path)!r}"
        )
    return p


def load_keras(path: str | os.PathLike, strict: bool = False) -> tuple[Any, dict[str, Any]]:
    """Loads a run folder's `model.keras` (or a `.keras` file) in Keras's safe mode.

    Args:
        path: A run folder written by `tfconv train` or a `.keras` file.
        strict: For a legacy model (no `PixelScaling` layer), refuse an
            unreadable `metrics.json` instead of reading it as empty.

    Returns:
        `(model, run_config)`: the model and the `config` of the run's
        `metrics.json` beside it (empty when there is none or, for a model
        that carries its preprocessing, when it is unreadable: such a model
        needs nothing from it).

    Raises:
        FileNotFoundError: If `path` does not exist.
        ValueError: If `path` is not a Keras model.
    """
    from tfconv import models
    from tfconv.models.saving import load_model_file

    model_file = _resolve_model_file(path)
    model = load_model_file(model_file, received=f"model={os.fspath(path)!r}")
    legacy = models.find_layer(model, models.PixelScaling) is None
    return model, read_run_config(model_file.parent, strict=strict and legacy)


def _with_legacy_scaling(
    model: Any, run_config: dict[str, Any], standardize: bool | None, dataset: str | None
) -> Any:
    """A legacy model wrapped with the scaling its arguments, else its run, describe."""
    from tfconv import data, models

    if standardize is None:
        standardize = bool(run_config.get("standardize", False))
    mean, std = 0.0, 1.0
    if standardize:
        info = data.get_info(dataset or "fashion_mnist")
        mean, std = info.mean, info.std
    return models.with_preprocessing(model, mean, std)


def raw_pixel_model(
    model: Any,
    run_config: dict[str, Any] | None = None,
    standardize: bool | None = None,
    dataset: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The model as one taking raw pixels (0-255), and what it carries.

    A model saved by `tfconv train` takes raw pixels already: its
    `PixelScaling` layer says how it scales them and its `ClassNames` layer
    names the classes and the dataset. A legacy model (saved before tfconv put
    them in the model) is wrapped with `tfconv.models.with_preprocessing`,
    using `standardize` and `dataset`, else its run's `run_config`, else
    `x / 255` and Fashion-MNIST.

    Returns:
        `(model, info)` with `info` holding `"scaling"` (the formula),
        `"standardize"`, `"dataset"` (or `None`), `"labels"` (or `None`)
        and `"legacy"`.

    Raises:
        ValueError: If `standardize` contradicts the model's own scaling.
    """
    from tfconv import models

    run_config = run_config or {}
    scaling = models.find_layer(model, models.PixelScaling)
    names = models.find_layer(model, models.ClassNames)
    legacy = scaling is None
    if legacy:
        dataset = dataset or run_config.get("dataset") or None
        model = _with_legacy_scaling(model, run_config, standardize, dataset)
        scaling = models.find_layer(model, models.PixelScaling)
    elif standardize is not None and bool(standardize) != scaling.standardizes:
        raise ValueError(
            f"The model carries its own preprocessing ({scaling.describe()}); drop "
            f"--standardize/--no-standardize. Received: standardize={standardize!r}"
        )
    if names is not None and names.dataset and dataset and dataset != names.dataset:
        # Names and dataset travel together; another dataset's test set would
        # check (and calibrate) the model on the wrong images.
        raise ValueError(
            f"The model was trained on {names.dataset}. Received: dataset={dataset!r}"
        )
    return model, {
        "scaling": scaling.describe(),
        "standardize": scaling.standardizes,
        "dataset": (names.dataset if names is not None else None) or dataset,
        "labels": list(names.class_names) if names is not None else None,
        "legacy": legacy,
    }


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer of `model`, nested models' layers included, depth first."""
    for layer in getattr(model, "layers", []):
        yield layer
        yield from all_layers(layer)


def _is_float32(model: Any) -> bool:
    return all(
        layer.dtype_policy.compute_dtype == "float32"
        and layer.dtype_policy.variable_dtype == "float32"
        for layer in all_layers(model)
    )


def policy_name(model: Any) -> str:
    """The model's mixed/low precision policy if any layer has one, else `"float32"`."""
    for layer in all_layers(model):
        if layer.dtype_policy.name != "float32":
            return layer.dtype_policy.name
    return "float32"


def to_float32(model: Any) -> tuple[Any, bool]:
    """The model with every layer in float32 (a copy if any layer was not).

    TFLite cannot convert float16 compute from a mixed-precision policy, so
    the same layers are rebuilt from their configs under `float32` and the
    (float32) weights are copied over.

    Args:
        model: A functional or sequential `keras.Model`.

    Returns:
        `(model, rebuilt)`: the float32 model and whether it is a rebuilt copy.

    Raises:
        ExportError: If the model cannot be cloned (a subclassed model).
    """
    import keras

    if _is_float32(model):
        return model, False

    def float32_layer(layer: Any) -> Any:
        config = layer.get_config()
        if "dtype" in config:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("float32")
    try:
        clone = keras.models.clone_model(model, clone_function=float32_layer)
        clone.set_weights([np.asarray(w, np.float32) for w in model.get_weights()])
    except Exception as err:
        raise ExportError(
            f"Cannot rebuild the {policy_name(model)} model in float32 for export "
            f"({type(err).__name__}: {err}). Build it under a float32 policy and copy the "
            "weights, then export that model."
        ) from err
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return clone, True
