"""`export_model`: the export as a sequence of named steps, from a run folder
(or `.keras` file, or `keras.Model`) to checked files in an output folder.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.export import tflite
from tfconv.export.labels import dataset_labels
from tfconv.export.loading import load_keras, policy_name, raw_pixel_model, to_float32
from tfconv.export.ops_check import own_windows, tflite_ops
from tfconv.export.options import (
    LABELS_JSON,
    LABELS_TXT,
    REPORT_FILE,
    SAVEDMODEL_DIR,
    SIGNATURE,
    export_key,
    output_names,
    parse_formats,
    parse_quantize,
    tflite_name,
)
from tfconv.export.report import QUANT_TITLES, format_report, new_report, to_json
from tfconv.export.runners import TFLiteRunner
from tfconv.export.serving import image_shape, make_serving, write_savedmodel
from tfconv.export.verify import verify_exports
from tfconv.utils import fileio

Say = Callable[[str], None]


@dataclasses.dataclass
class _Source:
    """The model made ready for export, and what it carries."""

    model: Any  # raw pixels in, float32
    name: str
    trained_policy: str
    rebuilt: bool
    carried: dict[str, Any]
    run_config: dict[str, Any]
    dataset: str
    labels: list[str]
    image_shape: tuple[int, ...]


def _check_arguments(
    formats: Any, quantize: Any, limit_test: int | None, dataset: str | None
) -> tuple[list[str], list[str], str | None]:
    """`(formats, quantizations, dataset)` normalised; raises `ValueError` on a bad one."""
    from tfconv import data

    fmt_list = parse_formats(formats)
    quant_list = parse_quantize(quantize)
    if "tflite" not in fmt_list and quant_list != ["none"]:
        raise ValueError(
            "`quantize` applies to TFLite only; add tflite to `formats`. "
            f"Received: formats={formats!r}, quantize={quantize!r}"
        )
    if limit_test is not None and (isinstance(limit_test, bool) or limit_test < 1):
        raise ValueError(f"`limit_test` must be a positive int. Received: limit_test={limit_test}")
    return fmt_list, quant_list, data.get_info(dataset).name if dataset is not None else None


def _output_dir(out_dir: str | os.PathLike | None, source: Any) -> Path:
    """The output folder, checked without creating it (a failed export leaves none)."""
    if out_dir is not None:
        return fileio.check_output_dir(Path(out_dir), "out_dir")
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError("`out_dir` is required when exporting a model object.")
    p = Path(source)
    return fileio.check_output_dir((p if p.is_dir() else p.parent) / "export", "out_dir")


def _load_source(model_or_path: Any, standardize: bool | None, dataset: str | None) -> _Source:
    """Loads the model and makes it take raw pixels and compute in float32."""
    import keras

    from tfconv import data

    if isinstance(model_or_path, keras.Model):
        model, run_config, name = model_or_path, {}, model_or_path.name
    else:
        model, run_config = load_keras(model_or_path, strict=standardize is None)
        name = os.fspath(model_or_path)
    trained_policy = policy_name(model)
    model, carried = raw_pixel_model(model, run_config, standardize, dataset)
    dataset = data.get_info(carried["dataset"] or "fashion_mnist").name
    model, rebuilt = to_float32(model)
    shape = image_shape(model)
    labels = carried["labels"] or dataset_labels(dataset, int(model.output_shape[-1]))
    return _Source(
        model, name, trained_policy, rebuilt, carried, run_config, dataset, labels, shape
    )


def _load_data(
    src: _Source,
    data_dir: str | os.PathLike | None,
    source: str | None,
    limit_test: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(x_train, x_test, y_test)` of the model's dataset, the test set cut to `limit_test`."""
    from tfconv import data

    run_dir = src.run_config.get("data_dir")
    if data_dir is None and run_dir and Path(run_dir).is_dir():
        data_dir = run_dir
    (x_train, _), (x_test, y_test) = data.load(
        src.dataset, data_dir=data_dir, source=source or "auto"
    )
    x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    if x_test.shape[1:] != src.image_shape:
        raise ValueError(
            f"The model takes images of shape {src.image_shape} but {src.dataset} has "
            f"{x_test.shape[1:]}. Received: dataset={src.dataset!r}"
        )
    return x_train, x_test, y_test


def _start_report(src: _Source, out: Path, num_test: int | None) -> dict[str, Any]:
    return new_report(
        source=src.name,
        out=os.fspath(out),
        dataset=src.dataset,
        labels=src.labels,
        image_shape=src.image_shape,
        scaling=src.carried["scaling"],
        num_classes=int(src.model.output_shape[-1]),
        precision={"trained": src.trained_policy, "exported": "float32", "rebuilt": src.rebuilt},
        num_test=num_test,
    )


def _convert_all(
    model: Any, quant_list: list[str], representative: np.ndarray | None, step: Say
) -> dict[str, bytes]:
    """Every TFLite file's bytes, by quantisation, before anything is written."""
    # A module of its own: its functions trace under `_core.export_graph`,
    # the SavedModel's as in training.
    lite, own = make_serving(model), own_windows(model)
    contents = {}
    for q in quant_list:
        step(f"converting {tflite_name(q)} ({QUANT_TITLES[q]})")
        contents[q] = tflite.convert_tflite(lite, q, representative, own)
    return contents


def _publish_savedmodel(model: Any, out: Path, labels: list[str], step: Say) -> dict[str, Any]:
    step(f"writing {SAVEDMODEL_DIR}/")
    target = out / SAVEDMODEL_DIR
    write_savedmodel(make_serving(model), target, labels)
    return {
        "format": "savedmodel",
        "quantize": "none",
        "path": SAVEDMODEL_DIR,
        "size_bytes": sum(f.stat().st_size for f in target.rglob("*") if f.is_file()),
        "signature": SIGNATURE,
    }


def _publish_tflite(out: Path, quantize: str, content: bytes) -> dict[str, Any]:
    target = out / tflite_name(quantize)
    with fileio.atomic_file(target) as tmp:
        tmp.write_bytes(content)
    return {
        "format": "tflite",
        "quantize": quantize,
        "path": target.name,
        "size_bytes": len(content),
        "ops": tflite_ops(content),
        **TFLiteRunner(content).quantization(),
    }


def _publish(
    src: _Source,
    out: Path,
    savedmodel: bool,
    tflite_models: dict[str, bytes],
    report: dict[str, Any],
    step: Say,
) -> dict[str, Path]:
    """Writes every file, each renamed into place whole; returns their paths by report key."""
    out.mkdir(parents=True, exist_ok=True)
    # Temporary files and folders of an export that was killed (never a live one's).
    fileio.remove_stale_temps(out, output_names())
    written: dict[str, Path] = {}
    if savedmodel:
        report["exports"]["savedmodel"] = _publish_savedmodel(src.model, out, src.labels, step)
        written["savedmodel"] = out / SAVEDMODEL_DIR
    for q, content in tflite_models.items():
        key = export_key("tflite", q)
        report["exports"][key] = _publish_tflite(out, q, content)
        written[key] = out / tflite_name(q)
    fileio.write_text_atomic(out / LABELS_TXT, "\n".join(src.labels) + "\n")
    fileio.write_text_atomic(
        out / LABELS_JSON, to_json({"dataset": src.dataset, "labels": src.labels})
    )
    return written


def export_model(
    model_or_path: Any,
    out_dir: str | os.PathLike | None = None,
    formats: str | Sequence[str] = "all",
    quantize: str | Sequence[str] = "none",
    *,
    dataset: str | None = None,
    data_dir: str | os.PathLike | None = None,
    source: str | None = None,
    standardize: bool | None = None,
    verify: bool = True,
    limit_test: int | None = None,
    latency_runs: int = 200,
    print_fn: Callable[[str], None] | None = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Exports a classifier to SavedModel and/or TFLite and checks every file.

    The exported graphs take uint8 pixels `(batch, 28, 28)` and return class
    probabilities (see `tfconv.export`'s docstring for the full contract).
    After writing, each file is loaded again (LiteRT's interpreter, and
    `tf.saved_model.load`) and compared with the Keras model on the test set;
    the numbers go to `export_report.json` in `out_dir` and are returned.

    Args:
        model_or_path: A run folder written by `tfconv train`, a `.keras`
            file (loaded in safe mode) or a `keras.Model`.
        out_dir: Output folder; default `export/` inside the run folder (or
            beside the `.keras` file).
        formats: `"savedmodel"`, `"tflite"`, `"all"`, a comma list or a list.
        quantize: TFLite variants: any of `"none"` (float32), `"float16"`,
            `"dynamic"` (int8 weights) and `"int8"` (full integer), as a comma
            list, a list or `"all"`.
        dataset: Dataset of the test set and int8 calibration images; default
            the one the model carries (a legacy model: its run's
            `metrics.json`, else `"fashion_mnist"`).
        data_dir: Where the dataset's files are (see `tfconv.data.load`).
        source: Where to read the data from (see `tfconv.data.load`).
        standardize: For a legacy model only (one without a `PixelScaling`
            layer): whether it expects standardised input; default its run's
            setting, else `False` (pixels / 255). A model that carries its
            preprocessing ignores `None` and refuses a contradicting value.
        verify: Load every written file and compare it with Keras on the test
            set. Without it no test data is read.
        limit_test: Verify on the first N test images only (default all).
        latency_runs: Single-image runs timed per format (0 skips timing).
        print_fn: Where the summary lines go; `None` for silence.
        progress: Told one line as each slow step starts (converting or
            writing each file, checking each file), e.g. to show progress on
            stderr; `None` (default) for silence.

    Returns:
        The report: input/output contract, labels, and per export
        (`"savedmodel"`, `"tflite"`, `"tflite_float16"`, `"tflite_dynamic"`,
        `"tflite_int8"`) its path, size in bytes, TFLite ops and quantisation,
        max |Δ| of probabilities against Keras, argmax agreement with Keras,
        test accuracy and median single-image latency (TFLite on one thread).

    Raises:
        FileNotFoundError: If `model_or_path` does not exist.
        ValueError: On a bad argument or a file that is not a Keras model.
        UnsupportedOpError: If TFLite conversion needs a non-builtin op; the
            message names the op.
        ExportError: If conversion fails for another reason, or if a model
            whose convolutions and poolings are all tfconv's converts to a
            TFLite convolution or pooling kernel (see `window_ops`).

    Example:

    >>> report = export_model("saved_models/lenet", quantize="none,int8", limit_test=1000)
    >>> report["exports"]["tflite_int8"]["test_acc"]  # doctest: +SKIP
    """
    fmt_list, quant_list, dataset = _check_arguments(formats, quantize, limit_test, dataset)
    # Checked before anything slow: a bad --out fails at once.
    out = _output_dir(out_dir, model_or_path)
    step = progress or (lambda _: None)
    src = _load_source(model_or_path, standardize, dataset)
    need_train = "int8" in quant_list and "tflite" in fmt_list
    x_train = x_test = y_test = None
    if verify or need_train:
        x_train, x_test, y_test = _load_data(src, data_dir, source, limit_test)
    representative = tflite.representative_images(x_train) if need_train else None
    report = _start_report(src, out, None if x_test is None else len(x_test))
    # Convert everything before writing anything: a model that cannot be
    # converted (a Flex op, say) leaves the output folder as it was.
    tflite_models = (
        _convert_all(src.model, quant_list, representative, step) if "tflite" in fmt_list else {}
    )
    written = _publish(src, out, "savedmodel" in fmt_list, tflite_models, report, step)
    if verify:
        verify_exports(report, src.model, written, x_test, y_test, latency_runs, step)
    fileio.write_text_atomic(out / REPORT_FILE, to_json(report))
    for line in format_report(report):
        (print_fn or (lambda _: None))(line)
    return report
