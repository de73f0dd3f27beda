"""Classification of image files with any model form tfconv writes: a `.keras`
file or run folder, a `.tflite` file, or an exported SavedModel.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.export.images import load_image
from tfconv.export.labels import dataset_labels, read_labels
from tfconv.export.loading import load_keras, raw_pixel_model, to_float32
from tfconv.export.options import INPUT_NAME, LABELS_TXT, SAVEDMODEL_DIR, SIGNATURE
from tfconv.export.runners import KerasRunner, SavedModelRunner, TFLiteRunner

# (runner, label files to look for beside the model, names the model carries)
_Opened = tuple[Any, list[Path], list[str] | None]


def _open_savedmodel(p: Path, model: str | os.PathLike) -> _Opened:
    try:
        runner = SavedModelRunner(p)
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"The SavedModel has no {SIGNATURE!r} signature taking {INPUT_NAME!r} "
            f"({err}). Received: model={os.fspath(model)!r}"
        ) from None
    return runner, [p / "assets" / LABELS_TXT, p.parent / LABELS_TXT], None


def _open_tflite(p: Path, model: str | os.PathLike) -> _Opened:
    try:
        runner = TFLiteRunner(p)
    except (ValueError, RuntimeError) as err:
        raise ValueError(
            f"Cannot load the TFLite model ({err}). Received: model={os.fspath(model)!r}"
        ) from None
    return runner, [p.parent / LABELS_TXT], None


def _open_keras(p: Path) -> _Opened:
    keras_model, config = load_keras(p, strict=True)
    keras_model, carried = raw_pixel_model(keras_model, config)
    keras_model, _ = to_float32(keras_model)
    runner = KerasRunner(keras_model)
    folder = p if p.is_dir() else p.parent
    names = carried["labels"]
    if names is None and carried["dataset"]:
        # A legacy model: its run's dataset names the classes.
        names = dataset_labels(carried["dataset"], int(keras_model.output_shape[-1]))
    return runner, [folder / LABELS_TXT], names


def _open_model(model: str | os.PathLike) -> _Opened:
    """The runner for whichever model form `model` is."""
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(f"No such file or folder. Received: model={os.fspath(model)!r}")
    if p.is_dir() and (p / SAVEDMODEL_DIR / "saved_model.pb").is_file():
        p = p / SAVEDMODEL_DIR
    if p.is_dir() and (p / "saved_model.pb").is_file():
        return _open_savedmodel(p, model)
    if p.is_file() and p.suffix == ".tflite":
        return _open_tflite(p, model)
    if p.is_dir() or p.suffix == ".keras":
        return _open_keras(p)
    raise ValueError(
        "Expected a .keras file, a run folder, a .tflite file or a SavedModel folder. "
        f"Received: model={os.fspath(model)!r}"
    )


def load_predictor(
    model: str | os.PathLike, labels: str | os.PathLike | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[int, ...], list[str] | None]:
    """Opens a model file for classification of uint8 pixel batches.

    Args:
        model: A `.keras` file or run folder, a `.tflite` file, or an exported
            SavedModel folder (or the export folder holding `saved_model/`).
        labels: A `labels.txt` (one name per line) or `labels.json`; default
            the `labels.txt` beside the model, else the run's dataset's names.

    Returns:
        `(predict, image_shape, labels)`: `predict` maps uint8 `(N, H, W)`
        pixels to `(N, classes)` probabilities; `labels` may be `None`.

    Raises:
        FileNotFoundError: If `model` (or `labels`) does not exist.
        ValueError: If `model` is not a model tfconv can run.
    """
    runner, beside, names = _open_model(model)
    if labels is not None:
        if not Path(labels).is_file():
            raise FileNotFoundError(f"No such labels file. Received: labels={os.fspath(labels)!r}")
        names = read_labels(Path(labels))
    elif names is None:
        found = next((f for f in beside if f.is_file()), None)
        names = read_labels(found) if found else None
    return runner, tuple(runner.image_shape), names


def predict(
    model: str | os.PathLike,
    images: Sequence[str | os.PathLike],
    *,
    invert: bool = False,
    top: int = 3,
    labels: str | os.PathLike | None = None,
) -> list[list[tuple[str, float]]]:
    """Classifies image files with a `.keras`, `.tflite` or SavedModel model.

    Args:
        model: See `load_predictor`.
        images: Image files (PNG, JPEG, ... of any size; see `load_image`).
        invert: Invert the images first (for dark-on-light drawings).
        top: How many classes to return per image.
        labels: Class names file; see `load_predictor`.

    Returns:
        Per image, the `top` most likely `(class name, probability)` pairs,
        most likely first. Without names, the class index is the name.

    Raises:
        FileNotFoundError: If a file does not exist.
        ValueError: On a bad model, image or `top`.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"`top` must be a positive int. Received: top={top!r}")
    if not images:
        raise ValueError("Give at least one image file. Received: images=[]")
    run, image_shape, names = load_predictor(model, labels)
    if len(image_shape) != 2:
        raise ValueError(
            f"Only grayscale models can classify image files. Received: model={model!r}"
        )
    pixels = np.stack([load_image(f, image_shape[:2], invert=invert) for f in images])
    probs = run(pixels)
    if names is not None and len(names) != probs.shape[-1]:
        raise ValueError(
            f"The model has {probs.shape[-1]} classes but the labels file names {len(names)}. "
            f"Received: labels={labels!r}"
        )
    results = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:top]
        results.append([(names[i] if names else str(i), float(row[i])) for i in order])
    return results
