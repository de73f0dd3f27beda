"""`visualize`: what `tfconv viz` runs, writing the pictures of a run folder as PNGs."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv import data, models
from tfconv.layers.class_names import ClassNames
from tfconv.layers.pixel_scaling import PixelScaling, scale_pixels
from tfconv.train.curves import plot_curves
from tfconv.utils import fileio
from tfconv.utils.figures import save_figure
from tfconv.viz.activations import plot_activations
from tfconv.viz.blocks import predict_labels
from tfconv.viz.confusion import confusion_matrix, most_confused_pair, plot_confusion, plot_errors
from tfconv.viz.features import plot_features
from tfconv.viz.kernels import plot_kernels
from tfconv.viz.run import Run, load_run

KINDS = ("curves", "kernels", "features", "activations", "confusion", "errors")

# The kinds drawn from test images, and those among them that need the model's predictions.
_NEEDS_DATA = frozenset({"features", "activations", "confusion", "errors"})
_NEEDS_PREDICTIONS = frozenset({"activations", "confusion", "errors"})

# The chapter's last exercise compares the activations of these two
# Fashion-MNIST classes (the book says "sweaters", the dataset "Pullover").
BOOK_CLASSES = ("Pullover", "Coat")


def parse_classes(text: str, class_names: Sequence[str]) -> list[int]:
    """Class indices from `"A,B"`: names (any case, or one side of a `/`) or indices.

    Example:

    >>> parse_classes("pullover,Coat", get_info("fashion_mnist").class_names)
    [2, 4]
    """
    lookup: dict[str, int] = {}
    for i, name in enumerate(class_names):
        for alias in (name, *name.split("/")):
            lookup.setdefault(alias.strip().lower(), i)
    for i in range(len(class_names)):
        lookup.setdefault(str(i), i)
    result = []
    for part in text.split(","):
        key = part.strip().lower()
        if key not in lookup:
            raise ValueError(
                f"Unknown class {part.strip()!r}; use a name ({', '.join(class_names)}) or an "
                f"index 0-{len(class_names) - 1}. Received: classes={text!r}"
            )
        if lookup[key] not in result:
            result.append(lookup[key])
    if len(result) < 2:
        raise ValueError(f"Name at least two different classes. Received: classes={text!r}")
    return result


def default_class_groups(cm: np.ndarray, class_names: Sequence[str]) -> list[tuple[int, ...]]:
    """Pullover vs coat (the chapter's exercise, when present) and the most confused pair.

    When pullover and coat are themselves the most confused pair, the next
    one is added instead, so that there are always two comparisons.
    """
    names = list(class_names)
    groups: list[tuple[int, ...]] = []
    if all(name in names for name in BOOK_CLASSES):
        groups.append(tuple(names.index(name) for name in BOOK_CLASSES))
    groups.append(most_confused_pair(cm, exclude=[g for g in groups if len(g) == 2]))
    return groups


@dataclasses.dataclass(frozen=True)
class _TestImages:
    """The test images as the run's model takes them, their labels and the class names."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]


class _Pictures:
    """Saves figures into one folder, remembering and announcing each file."""

    def __init__(self, out_dir: Path, print_fn: Callable[[str], Any]) -> None:
        self.out_dir = out_dir
        self.print_fn = print_fn
        self.written: list[Path] = []

    def save(self, fig: Any, filename: str) -> None:
        target = self.out_dir / filename
        save_figure(fig, target)
        self.written.append(target)
        self.print_fn(f"wrote {target}")


def visualize(
    run_dir: str | os.PathLike,
    what: Sequence[str] = ("all",),
    out: str | os.PathLike | None = None,
    dataset: str | None = None,
    data_dir: str | os.PathLike | None = None,
    source: str | None = None,
    classes: str | Sequence[int] | None = None,
    index: int = 0,
    limit: int | None = None,
    print_fn: Callable[[str], Any] = print,
) -> list[Path]:
    """Writes the pictures of a run folder as PNGs (what `tfconv viz` runs).

    Args:
        run_dir: A run folder from `tfconv.train.train`.
        what: Kinds from `KINDS`, or `"all"`.
        out: Output folder; defaults to `RUN_DIR/viz`.
        dataset: Defaults to the run's dataset.
        data_dir: Defaults to the run's `data_dir`.
        source: Defaults to the run's `source`.
        classes: For `activations`: class indices, or a string `"A,B"` of
            names or indices. Default: pullover vs coat (Fashion-MNIST) and
            the most confused pair.
        index: Test image shown by `features`.
        limit: Use the first `limit` test images; defaults to the run's
            `limit_test` (all when it had none).
        print_fn: Told each file written.

    Returns:
        The paths written.

    Raises:
        FileNotFoundError: For a missing run folder, model or data.
        ValueError: For a bad kind, dataset, class or index.
    """
    kinds = _check_kinds(what)
    if out is not None:
        # Before the model loads: a bad --out fails at once, creating nothing.
        fileio.check_output_dir(out)
    run = load_run(run_dir)
    pictures = _Pictures(_output_folder(run, out), print_fn)
    name = run.config.get("variant") or run.model.name
    if "curves" in kinds:
        _draw_curves(run, name, pictures)
    if "kernels" in kinds:
        pictures.save(plot_kernels(run.model), "kernels.png")
    if _NEEDS_DATA & set(kinds):
        test = _load_test_images(run, dataset, data_dir, source, limit)
        _draw_test_pictures(run, test, kinds, name, classes, index, pictures)
    return pictures.written


def _check_kinds(what: Sequence[str]) -> list[str]:
    """The kinds asked for, `"all"` expanded, duplicates dropped, in the order given."""
    kinds = list(KINDS) if "all" in what else list(dict.fromkeys(what))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(
            f"Unknown kind(s) {unknown}. Valid kinds: {', '.join(KINDS)}, all. Received: {what}"
        )
    return kinds


def _output_folder(run: Run, out: str | os.PathLike | None) -> Path:
    """The checked output folder (default `RUN_DIR/viz`), cleared of a killed viz's temporaries."""
    out_dir = fileio.check_output_dir(Path(out) if out is not None else run.path / "viz")
    # Temporary pictures of a viz that was killed (never a live one's).
    fileio.remove_stale_temps(out_dir, name_regex=r"[^/]+\.png")
    return out_dir


def _draw_curves(run: Run, name: str, pictures: _Pictures) -> None:
    if not run.history:
        raise FileNotFoundError(
            f"The run folder has no history.csv to draw curves from. "
            f"Received: run_dir={str(run.path)!r}"
        )
    title = f"{name} on {run.config.get('dataset', '')}".strip()
    pictures.save(plot_curves(run.history, title=title), "curves.png")


def _load_test_images(
    run: Run,
    dataset: str | None,
    data_dir: str | os.PathLike | None,
    source: str | None,
    limit: int | None,
) -> _TestImages:
    """The run's test set (or the one asked for), first `limit` images, as the model takes them."""
    carried = models.find_layer(run.model, ClassNames)
    dataset = dataset or (carried.dataset if carried else None) or run.config.get("dataset")
    info = data.get_info(dataset or "fashion_mnist")
    class_names = list(carried.class_names if carried else info.class_names)
    _, (images, labels) = data.load(
        dataset,
        data_dir=data_dir if data_dir is not None else run.config.get("data_dir"),
        source=source or run.config.get("source") or "auto",
    )
    limit = limit if limit is not None else run.config.get("limit_test")
    if limit is not None:
        if limit < 1:
            raise ValueError(f"`limit` must be a positive int. Received: limit={limit}")
        images, labels = images[:limit], labels[:limit]
    return _TestImages(_model_input(run, images, info), labels.astype(np.int64), class_names)


def _model_input(run: Run, images: np.ndarray, info: Any) -> np.ndarray:
    """Raw test pixels as the run's model takes them, `(N, H, W, 1)` float32."""
    x = images.astype(np.float32)[..., None]
    if models.find_layer(run.model, PixelScaling) is not None:
        return x  # The model scales raw pixels itself.
    # A legacy model (saved before models took raw pixels): scale as its run did.
    mean, std = (info.mean, info.std) if run.config.get("standardize") else (0.0, 1.0)
    return scale_pixels(x, mean, std).numpy()


def _draw_test_pictures(
    run: Run,
    test: _TestImages,
    kinds: list[str],
    name: str,
    classes: str | Sequence[int] | None,
    index: int,
    pictures: _Pictures,
) -> None:
    """The kinds drawn from test images: features, then those from the predictions."""
    if "features" in kinds:
        _draw_features(run, test, name, index, pictures)
    if not _NEEDS_PREDICTIONS & set(kinds):
        return
    y_pred = predict_labels(run.model, test.x)
    cm = confusion_matrix(test.y, y_pred, len(test.class_names))
    if "activations" in kinds:
        for group in _class_groups(classes, cm, test.class_names):
            fig = plot_activations(run.model, test.x, test.y, group, test.class_names)
            slugs = "_vs_".join(_slug(test.class_names[c]) for c in group)
            pictures.save(fig, f"activations_{slugs}.png")
    if "confusion" in kinds:
        pictures.save(plot_confusion(test.y, y_pred, test.class_names), "confusion.png")
    if "errors" in kinds:
        pictures.save(plot_errors(test.x, test.y, y_pred, test.class_names), "errors.png")


def _draw_features(
    run: Run, test: _TestImages, name: str, index: int, pictures: _Pictures
) -> None:
    if not 0 <= index < len(test.x):
        raise ValueError(f"`index` must be in [0, {len(test.x)}). Received: index={index}")
    label = test.class_names[test.y[index]]
    title = f"{name}: feature maps of test image {index} ({label})"
    pictures.save(plot_features(run.model, test.x[index], title=title), "features.png")


def _class_groups(
    classes: str | Sequence[int] | None, cm: np.ndarray, class_names: Sequence[str]
) -> list[tuple[int, ...]]:
    """The groups of classes whose activations are compared, one picture each."""
    if classes is None:
        return default_class_groups(cm, class_names)
    if isinstance(classes, str):
        return [tuple(parse_classes(classes, class_names))]
    return [tuple(int(c) for c in classes)]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
