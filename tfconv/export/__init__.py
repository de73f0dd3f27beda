"""Export a trained model to SavedModel and TensorFlow Lite, check it, and classify images.

`export_model` turns a run folder (or a `.keras` file, or a `keras.Model`)
into files a phone or a server can run without tfconv, then loads every file
again and compares it with the Keras model on the test set.

## Exported models

Every exported graph takes **raw pixels** and returns **class probabilities**:

- input `images`: `uint8`, shape `(batch, 28, 28)`, 0 = black, 255 = white,
  the way the dataset stores them (light garment or digit on black). The graph
  does the scaling itself: `x / 255`, or `(x / 255 - mean) / std` when the run
  was trained with `standardize=True` (the mean and std of the training set
  are baked in). The scaling, the class names and the dataset come from the
  model itself (its `tfconv.models.PixelScaling` and `ClassNames` layers),
  never from files beside it. Only a model saved before tfconv put them in
  the model (a *legacy* model) falls back to its run's `metrics.json`, or to
  the `standardize` and `dataset` arguments.
- output `probabilities`: shape `(batch, 10)`, the softmax of the logits, in
  the order of `labels.txt` (one class name per line; `labels.json` holds the
  same list with the dataset's name).

Files written to the output folder:

| file | what |
| --- | --- |
| `saved_model/` | SavedModel, signature `serving_default`, dynamic batch; float32 |
| `model.tflite` | TFLite, float32 |
| `model_float16.tflite` | TFLite, float16 weights (computes in float32) |
| `model_dynamic.tflite` | TFLite, int8 weights, float activations (dynamic range) |
| `model_int8.tflite` | TFLite, full integer: int8 weights and activations |
| `labels.txt`, `labels.json` | class names |
| `export_report.json` | sizes, ops, differences, accuracies, latencies |

The SavedModel holds plain TensorFlow ops only (tfconv's layers are traced
into slices, pads, concats and matmuls), so `tf.saved_model.load` works in a
process that has never imported tfconv:

    sig = tf.saved_model.load("export/saved_model").signatures["serving_default"]
    probs = sig(images=tf.constant(pixels_uint8))["probabilities"]

The `.tflite` files use builtin TFLite ops only (never Flex/select TF ops or
custom ops; a model that would need one fails to export, naming the op). A
model whose convolutions and poolings are all tfconv's layers must convert
without TFLite's convolution and pooling kernels too (`CONV_2D`,
`MAX_POOL_2D`, ...; see `window_ops`): tfconv's own math, gathers and matrix
products, is what the file runs, or the export fails. Their
batch dimension is dynamic (`shape_signature` `[-1, 28, 28]`); the interpreter
allocates a batch of 1 by default, so resize for more:

    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path="export/model.tflite", num_threads=1)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    it.allocate_tensors()                      # or resize_tensor_input(...) first
    it.set_tensor(inp["index"], pixels_uint8[None])   # (1, 28, 28) uint8
    it.invoke()
    probs = it.get_tensor(out["index"])

**Full-integer model (`model_int8.tflite`).** Its input is `uint8` with scale
1.0 and zero point 0, so raw pixels go in unchanged, exactly as for the other
files (the report records the actual values under `quantization`). Its output
is `uint8` too: probability = `scale * (q - zero_point)` with scale 1/256 and
zero point 0 (TFLite's fixed quantisation of a softmax), so `q / 256`. Weights
and activations are int8, calibrated on a few hundred training images.

Models trained under a `mixed_float16` or `mixed_bfloat16` policy are rebuilt
in float32 (same layers, float32 policy, same weights) before export.

Every model is converted before any file is written, and every file is
written under a temporary name and renamed into place (the SavedModel folder
too), so a failed or interrupted export never leaves a half-written model at
a target path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.utils import fileio

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "ExportError",
    "KerasRunner",
    "SavedModelRunner",
    "TFLiteRunner",
    "UnsupportedOpError",
    "check_builtin_ops",
    "export_model",
    "format_report",
    "load_image",
    "load_keras",
    "load_predictor",
    "parse_formats",
    "parse_quantize",
    "predict",
    "raw_pixel_model",
    "tflite_ops",
    "to_float32",
    "window_ops",
]

FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
SAVEDMODEL_DIR = "saved_model"
REPORT_FILE = "export_report.json"
SIGNATURE = "serving_default"
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
REPRESENTATIVE_IMAGES = 300


class ExportError(RuntimeError):
    """The model could not be converted or the exported file is unusable."""


class UnsupportedOpError(ExportError):
    """The model needs ops that TFLite's builtin op set lacks.

    Attributes:
        ops: Names of the offending TensorFlow ops, e.g. `["ExtractImagePatches"]`.
    """

    def __init__(self, message: str, ops: Sequence[str]) -> None:
        super().__init__(message)
        self.ops = list(ops)


# --------------------------------------------------------------------------
# Argument parsing shared by the Python API and the CLI
# --------------------------------------------------------------------------


def _split(value: str | Sequence[str], name: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"`{name}` must be strings. Received: {name}={value!r}")
        out += [p.strip().lower() for p in item.split(",") if p.strip()]
    if not out:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={value!r}")
    return out


def _choices(value: str | Sequence[str], name: str, valid: Sequence[str], noun: str) -> list[str]:
    """The entries of a comma list (or list) in `valid`'s order; "all" means all."""
    wanted = _split(value, name)
    bad = [v for v in wanted if v not in (*valid, "all")]
    if bad:
        raise ValueError(
            f"Unknown {noun} {bad[0]!r}; valid values are {', '.join(valid)} and all. "
            f"Received: {name}={value!r}"
        )
    return [v for v in valid if v in wanted or "all" in wanted]


def parse_formats(value: str | Sequence[str]) -> list[str]:
    """Normalises `formats`: `"all"`, `"tflite"`, `"savedmodel,tflite"` or a list.

    Returns:
        The formats in `FORMATS` order, without repeats.

    Raises:
        ValueError: On an unknown format.
    """
    return _choices(value, "formats", FORMATS, "format")


def parse_quantize(value: str | Sequence[str]) -> list[str]:
    """Normalises `quantize`: `"none"`, `"int8"`, `"none,int8"`, `"all"` or a list.

    Returns:
        The TFLite quantisations in `QUANTIZATIONS` order, without repeats.

    Raises:
        ValueError: On an unknown quantisation.
    """
    return _choices(value, "quantize", QUANTIZATIONS, "quantization")


def tflite_name(quantize: str) -> str:
    """The file name of the TFLite model for one quantisation mode."""
    return "model.tflite" if quantize == "none" else f"model_{quantize}.tflite"


def _export_key(fmt: str, quantize: str) -> str:
    return fmt if quantize == "none" else f"{fmt}_{quantize}"


# --------------------------------------------------------------------------
# Loading the source model
# --------------------------------------------------------------------------


def _read_run_config(folder: Path, strict: bool = False) -> dict[str, Any]:
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
    from tfconv.models.saving import load_model_file

    model_file = _resolve_model_file(path)
    model = load_model_file(model_file, received=f"model={os.fspath(path)!r}")
    from tfconv import models

    legacy = models.find_layer(model, models.PixelScaling) is None
    return model, _read_run_config(model_file.parent, strict=strict and legacy)


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
    from tfconv import data, models

    run_config = run_config or {}
    scaling = models.find_layer(model, models.PixelScaling)
    names = models.find_layer(model, models.ClassNames)
    legacy = scaling is None
    if legacy:
        dataset = dataset or run_config.get("dataset") or None
        if standardize is None:
            standardize = bool(run_config.get("standardize", False))
        mean, std = 0.0, 1.0
        if standardize:
            info = data.get_info(dataset or "fashion_mnist")
            mean, std = info.mean, info.std
        model = models.with_preprocessing(model, mean, std)
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


def _all_layers(model: Any) -> Iterator[Any]:
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)


def _is_float32(model: Any) -> bool:
    return all(
        layer.dtype_policy.compute_dtype == "float32"
        and layer.dtype_policy.variable_dtype == "float32"
        for layer in _all_layers(model)
    )


def _policy_name(model: Any) -> str:
    """The model's mixed/low precision policy if any layer has one, else `"float32"`."""
    for layer in _all_layers(model):
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
            f"Cannot rebuild the {_policy_name(model)} model in float32 for export "
            f"({type(err).__name__}: {err}). Build it under a float32 policy and copy the "
            "weights, then export that model."
        ) from err
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return clone, True


# --------------------------------------------------------------------------
# The serving graph
# --------------------------------------------------------------------------


def _image_shape(model: Any) -> tuple[int, ...]:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            "Only models of fixed-size (height, width, channels) images can be exported. "
            f"Received: input_shape={model.input_shape}"
        )
    # A grayscale model takes (batch, height, width) pixels, as a phone camera
    # crop or the dataset stores them.
    return shape[:2] if shape[2] == 1 else shape


def _make_serving(model: Any) -> Any:
    """A `tf.Module` with `serve(uint8 images)` and `serve_float(float images)`.

    `model` takes raw pixels (see `raw_pixel_model`): its own first layer scales them.

    `serve_float` takes the same 0-255 pixels as float32; full-integer
    conversion needs a float input to attach its uint8 quantisation to.
    """
    import tensorflow as tf

    image_shape = _image_shape(model)
    add_channel = len(image_shape) == 2

    def probabilities(pixels: Any) -> dict[str, Any]:
        x = tf.cast(pixels, tf.float32)
        if add_channel:
            # A RESHAPE to a constant shape; `x[..., None]` converts to a RESHAPE
            # and an identity STRIDED_SLICE (6.5 us on LiteRT's own kernels).
            x = tf.reshape(x, [-1, *image_shape, 1])
        logits = model(x, training=False)
        return {OUTPUT_NAME: tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)}

    module = tf.Module()
    # Keras 3 variables wrap tf.Variables; tracking the wrapped ones is what makes
    # tf.saved_model.save store them and lets the TFLite converter freeze them
    # into constants (untracked, they become uninitialised resource variables).
    module.model_variables = [v.value for v in model.variables]
    module.serve = tf.function(
        probabilities,
        input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=INPUT_NAME)],
    )
    module.serve_float = tf.function(
        probabilities,
        input_signature=[tf.TensorSpec([None, *image_shape], tf.float32, name=INPUT_NAME)],
    )
    return module


# --------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------


def _write_atomic(target: Path, content: bytes | str) -> None:
    """Writes `content` to a temporary name beside `target`, then renames it."""
    with fileio.atomic_file(target) as tmp:
        if isinstance(content, str):
            tmp.write_text(content)
        else:
            tmp.write_bytes(content)


# Everything an export writes: the names whose temporary leftovers it clears.
def _output_names() -> list[str]:
    names = [SAVEDMODEL_DIR, REPORT_FILE, "labels.txt", "labels.json"]
    return names + [tflite_name(q) for q in QUANTIZATIONS]


_atomic_dir = fileio.atomic_dir


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silences the converter's C++ diagnostics (the Python exception carries them)."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {
        code: name
        for name, code in vars(schema.BuiltinOperator).items()
        if not name.startswith("_") and isinstance(code, int)
    }


def tflite_ops(model_content: bytes) -> list[str]:
    """Names of the op codes a `.tflite` flatbuffer uses, sorted.

    Builtin ops have their TFLite names (`"CONV_2D"`, `"FULLY_CONNECTED"`);
    custom ops, Flex (select TF) ops among them, have their custom code
    (`"FlexExtractImagePatches"`), so a Flex op is easy to spot.

    Args:
        model_content: The bytes of a `.tflite` file.

    Returns:
        A sorted list of op names.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(model_content), 0)
    names = _builtin_names()
    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in BuiltinCode; old files only set the deprecated one.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            ops.add(custom.decode() if custom else "CUSTOM")
        else:
            ops.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(ops)


# TFLite's convolution and pooling kernels, builtin and StableHLO, by name
# (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, CONV_3D, MAX_POOL_2D,
# AVERAGE_POOL_2D, L2_POOL_2D, STABLEHLO_CONVOLUTION, REDUCE_WINDOW, ...).
_WINDOW_OP = re.compile(r"CONV(?!ERT)|POOL|REDUCE_WINDOW")


def window_ops(ops: Sequence[str]) -> list[str]:
    """The convolution and pooling kernels among TFLite op names (see `tflite_ops`).

    tfconv's layers convert to GATHER, FULLY_CONNECTED, PAD, SPLIT, MAXIMUM
    and friends, never to these: a file of tfconv layers that has one was not
    computed by tfconv's own math.

    Args:
        ops: Op names, e.g. `tflite_ops(content)` or a report's `"ops"`.

    Returns:
        Those of `ops` that are convolution or pooling kernels.
    """
    return [op for op in ops if _WINDOW_OP.search(op)]


def check_builtin_ops(
    model_content: bytes, what: str = "The model", *, own_windows: bool = False
) -> list[str]:
    """Raises `UnsupportedOpError` if a `.tflite` file uses any non-builtin op.

    Flex (select TensorFlow) ops and custom ops both count as non-builtin: a
    stock LiteRT runtime cannot run them.

    Args:
        model_content: The bytes of a `.tflite` file.
        what: How the message names the model.
        own_windows: Also raise `ExportError` if the file uses a convolution or
            pooling kernel (see `window_ops`): set for models whose every
            convolution and pooling is one of tfconv's layers.

    Returns:
        The model's op names (see `tflite_ops`) when all are builtin.
    """
    ops = tflite_ops(model_content)
    if own_windows and window_ops(ops):
        raise ExportError(
            f"{what} uses TFLite's convolution or pooling kernels: "
            f"{', '.join(window_ops(ops))}. tfconv's layers must convert to their own "
            "gathers and matrix products."
        )
    builtin = set(_builtin_names().values()) - {"CUSTOM"}
    extra = [op for op in ops if op not in builtin]
    if extra:
        tf_ops = [op.removeprefix("Flex") for op in extra]
        raise UnsupportedOpError(
            f"{what} uses ops outside TFLite's builtin op set: {', '.join(extra)}. "
            "tfconv exports builtin ops only; replace the layer that uses "
            f"{', '.join(tf_ops)} with builtin-friendly ops.",
            tf_ops,
        )
    return ops


_NEEDS_FLEX = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_UNSUPPORTED = re.compile(r"'tf\.(\w+)' op is not supported")


def _conversion_error(err: Exception, what: str) -> ExportError:
    """Turns a converter exception into an `ExportError` that names the op."""
    text = str(err) + "".join(str(e) for e in getattr(err, "errors", None) or [])
    ops = sorted(set(_NEEDS_FLEX.findall(text)) | set(_UNSUPPORTED.findall(text)))
    if ops:
        return UnsupportedOpError(
            f"{what} needs TensorFlow ops that TFLite's builtin op set lacks: "
            f"{', '.join(ops)}. tfconv exports builtin ops only (no Flex/select TF ops); "
            f"replace the layer that uses {', '.join(ops)} (for instance "
            "tf.image.extract_patches) with builtin-friendly ops.",
            ops,
        )
    first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
    return ExportError(f"{what} failed to convert: {first}")


def _own_windows(model: Any) -> bool:
    """Whether only tfconv's layers can have put a convolution or pooling into `model`.

    True when every layer is tfconv's or one of Keras's that is neither a
    convolution, a pooling nor a wrapper of arbitrary code.
    """
    for layer in _all_layers(model):
        cls = type(layer)
        if cls.__module__.startswith("tfconv."):
            continue
        if cls.__module__.startswith("keras.") and not re.search(
            r"Conv|Pool|Lambda|Wrapper|TFSM", cls.__name__
        ):
            continue
        return False
    return True


def _convert_tflite(
    module: Any,
    quantize: str,
    representative: np.ndarray | None,
    own_windows: bool = False,
) -> bytes:
    """Converts the serving module to a TFLite flatbuffer with builtin ops only.

    With `own_windows`, a convolution or pooling kernel in the file fails too.
    """
    import tensorflow as tf

    from tfconv import _core

    fn = module.serve_float if quantize == "int8" else module.serve
    # Traced in the form meant for files (int16 positions, lean max pooling,
    # no non-finite checks); the SavedModel keeps the training graph's form.
    with _core.export_graph():
        concrete = fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    # Never SELECT_TF_OPS: a Flex op must fail here rather than ship silently.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = False
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        if representative is None:
            raise ValueError("int8 quantization needs representative training images.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

        def samples() -> Iterator[list[np.ndarray]]:
            for image in representative:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = samples
        # uint8 in and out: calibration on 0-255 pixels gives the input scale 1
        # and zero point 0, so callers pass raw pixels as for every other file.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    what = f"TFLite export ({quantize})"
    try:
        with _quiet_stderr():
            content = converter.convert()
    except Exception as err:
        raise _conversion_error(err, what) from None
    # The converter was told builtins only; checking the file as well costs
    # nothing and guards against a Flex op slipping through another path.
    check_builtin_ops(content, what, own_windows=own_windows)
    _smoke_run(content, what)
    return content


def _smoke_run(content: bytes, what: str) -> None:
    """Runs the model once on LiteRT's reference kernels, so a broken file fails here."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        # No XNNPACK: it can hide kernel limits that a phone's runtime may have.
        it = Interpreter(
            model_content=content,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        it.allocate_tensors()
        it.invoke()
    except (RuntimeError, ValueError) as err:
        raise ExportError(f"{what} converted but does not run: {err}") from None


# --------------------------------------------------------------------------
# Running exported files
# --------------------------------------------------------------------------


class TFLiteRunner:
    """Runs a `.tflite` classifier on uint8 pixel batches, (de)quantising as needed.

    Args:
        model: Path of a `.tflite` file, or its bytes.
        num_threads: CPU threads of the interpreter (`None`: LiteRT's default).
    """

    def __init__(self, model: str | os.PathLike | bytes, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, bytes):
            self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        else:
            self.interpreter = Interpreter(model_path=os.fspath(model), num_threads=num_threads)
        self._batch: int | None = None
        self._refresh()

    def _refresh(self) -> None:
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        # Worked out once, not per call: single-image latency is tens of
        # microseconds, and NumPy's dtype checks cost about one each.
        in_dtype = np.dtype(self.input["dtype"])
        scale, zero = self.input["quantization"]
        self._in_dtype = in_dtype
        self._in_quant = (
            (float(scale), int(zero), np.iinfo(in_dtype))
            if in_dtype.kind in "iu" and scale and (scale, zero) != (1.0, 0)
            else None
        )
        scale, zero = self.output["quantization"]
        out_dtype = np.dtype(self.output["dtype"])
        out_int = out_dtype.kind in "iu" and bool(scale)
        self._out_quant = self._out_table = None
        if out_int and out_dtype.itemsize > 1:
            self._out_quant = (np.float32(scale), np.float32(zero))
        elif out_int:
            # Every 8-bit code's float, so dequantising is one table lookup
            # instead of three NumPy passes (runner overhead on an int8 LeNet:
            # 3.6 -> 2.9 us).
            codes = np.arange(256, dtype=np.uint8).view(out_dtype).astype(np.float32)
            self._out_table = (codes - np.float32(zero)) * np.float32(scale)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.input["shape"][1:])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities `(N, classes)` as float32 for uint8 images `(N, H, W)`."""
        images = np.asarray(images)
        if self._batch != len(images):
            self.interpreter.resize_tensor_input(
                self.input["index"], [len(images), *self.image_shape]
            )
            self.interpreter.allocate_tensors()
            self._batch = len(images)
            self._refresh()
        x = images
        if self._in_quant is not None:
            scale, zero, info = self._in_quant
            x = np.clip(np.round(images / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], np.ascontiguousarray(x, self._in_dtype))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if self._out_table is not None:
            return self._out_table[out.view(np.uint8)]
        if self._out_quant is not None:
            scale, zero = self._out_quant
            return (out.astype(np.float32) - zero) * scale
        return out.astype(np.float32, copy=False)

    def quantization(self) -> dict[str, Any]:
        """dtype, shape signature, scale and zero point of the input and output."""

        def describe(detail: dict[str, Any]) -> dict[str, Any]:
            scale, zero = detail["quantization"]
            return {
                "name": detail["name"],
                "dtype": np.dtype(detail["dtype"]).name,
                "shape_signature": [int(v) for v in detail["shape_signature"]],
                "scale": float(scale),
                "zero_point": int(zero),
            }

        return {"input": describe(self.input), "output": describe(self.output)}


class SavedModelRunner:
    """Runs an exported SavedModel's `serving_default` on uint8 pixel batches."""

    def __init__(self, path: str | os.PathLike) -> None:
        import tensorflow as tf

        self._tf = tf
        self.loaded = tf.saved_model.load(os.fspath(path))
        self.signature = self.loaded.signatures[SIGNATURE]
        spec = self.signature.structured_input_signature[1][INPUT_NAME]
        self.image_shape = tuple(int(v) for v in spec.shape[1:])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = self.signature(**{INPUT_NAME: self._tf.constant(np.asarray(images, np.uint8))})
        return out[OUTPUT_NAME].numpy()


class KerasRunner:
    """A Keras classifier behind the exported graphs' contract (uint8 in, probabilities out).

    Args:
        model: A model taking raw pixels (0-255), as `raw_pixel_model` returns.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.image_shape = _image_shape(model)
        self._channel = len(self.image_shape) == 2

    def scale(self, images: np.ndarray) -> np.ndarray:
        """The model's input for uint8 `(N, H, W)` pixels: float32, channel axis added."""
        x = np.asarray(images, np.float32)
        return x[..., None] if self._channel else x

    def logits(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return np.asarray(self.model.predict(self.scale(images), batch_size, verbose=0))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        logits = self.logits(images).astype(np.float64)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _batched(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([run(x[i : i + size]) for i in range(0, len(x), size)])


def latency_ms(call: Callable[[], Any], runs: int) -> float | None:
    """Median wall time of `call` in milliseconds, after a short warm-up."""
    if runs < 1:
        return None
    for _ in range(min(5, runs)):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def interleaved_latency_ms(
    calls: dict[str, Callable[[], Any]], runs: int, rounds: int = 10
) -> dict[str, float]:
    """`latency_ms` of each of `calls`, in alternating rounds: the median of the rounds' medians.

    A slow spell of a shared machine then falls on every call alike instead
    of on whichever happened to be timed during it.
    """
    per_round: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            per_round[name].append(latency_ms(call, max(1, runs // rounds)))
    return {name: float(np.median(ms)) for name, ms in per_round.items()}


def _compare(
    probs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None
) -> dict[str, Any]:
    result = {
        "max_abs_diff": float(np.abs(probs - reference).max()),
        "agreement": float((probs.argmax(-1) == reference.argmax(-1)).mean()),
    }
    if labels is not None:
        result["test_acc"] = float((probs.argmax(-1) == labels).mean())
    return result


# --------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _labels(dataset: str, num_classes: int) -> list[str]:
    from tfconv import data

    names = list(data.get_info(dataset).class_names)
    return names if len(names) == num_classes else [str(i) for i in range(num_classes)]


_QUANT_TITLES = {
    "none": "float32",
    "float16": "float16 weights",
    "dynamic": "int8 weights",
    "int8": "full integer, calibrating",
}


def _default_out(source: Any) -> Path:
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        return (p if p.is_dir() else p.parent) / "export"
    raise ValueError("`out_dir` is required when exporting a model object.")


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
    probabilities (see the module docstring for the full contract). After
    writing, each file is loaded again (LiteRT's interpreter, and
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
    from importlib import metadata

    import keras
    import tensorflow as tf

    from tfconv import data
    from tfconv.utils.runtime import package_versions

    fmt_list = parse_formats(formats)
    quant_list = parse_quantize(quantize)
    if "tflite" not in fmt_list and quant_list != ["none"]:
        raise ValueError(
            "`quantize` applies to TFLite only; add tflite to `formats`. "
            f"Received: formats={formats!r}, quantize={quantize!r}"
        )
    if limit_test is not None and (isinstance(limit_test, bool) or limit_test < 1):
        raise ValueError(f"`limit_test` must be a positive int. Received: limit_test={limit_test}")

    if dataset is not None:
        dataset = data.get_info(dataset).name
    # Checked before anything slow, and without creating it: a bad --out
    # fails at once and a failed export leaves no empty folder behind.
    out = fileio.check_output_dir(
        Path(out_dir) if out_dir is not None else _default_out(model_or_path), "out_dir"
    )
    step = progress or (lambda _: None)
    if isinstance(model_or_path, keras.Model):
        model, run_config, source_name = model_or_path, {}, model_or_path.name
    else:
        model, run_config = load_keras(model_or_path, strict=standardize is None)
        source_name = os.fspath(model_or_path)
    trained_policy = _policy_name(model)
    model, carried = raw_pixel_model(model, run_config, standardize, dataset)
    dataset = data.get_info(carried["dataset"] or "fashion_mnist").name
    if data_dir is None and run_config.get("data_dir") and Path(run_config["data_dir"]).is_dir():
        data_dir = run_config["data_dir"]
    source = source or "auto"

    model, rebuilt = to_float32(model)
    image_shape = _image_shape(model)
    scaling = carried["scaling"]
    num_classes = int(model.output_shape[-1])
    labels = carried["labels"] or _labels(dataset, num_classes)
    say = print_fn or (lambda _: None)

    need_train = "int8" in quant_list and "tflite" in fmt_list
    x_train = x_test = y_test = None
    if verify or need_train:
        (x_train, _), (x_test, y_test) = data.load(dataset, data_dir=data_dir, source=source)
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
        if x_test.shape[1:] != image_shape:
            raise ValueError(
                f"The model takes images of shape {image_shape} but {dataset} has "
                f"{x_test.shape[1:]}. Received: dataset={dataset!r}"
            )
    representative = None
    if need_train:
        rng = np.random.default_rng(0)
        pick = rng.choice(len(x_train), min(REPRESENTATIVE_IMAGES, len(x_train)), replace=False)
        representative = x_train[np.sort(pick)]

    module = _make_serving(model)
    report: dict[str, Any] = {
        "source": source_name,
        "out": os.fspath(out),
        "dataset": dataset,
        "labels": labels,
        "input": {
            "name": INPUT_NAME,
            "shape": [None, *image_shape],
            "dtype": "uint8",
            "range": [0, 255],
            "preprocessing": scaling,
        },
        "output": {"name": OUTPUT_NAME, "shape": [None, num_classes], "what": "softmax"},
        "precision": {"trained": trained_policy, "exported": "float32", "rebuilt": rebuilt},
        "num_test": None if x_test is None else len(x_test),
        "exports": {},
        "versions": package_versions(),
    }
    with contextlib.suppress(metadata.PackageNotFoundError):
        report["versions"]["ai-edge-litert"] = metadata.version("ai-edge-litert")

    # Convert everything before writing anything: a model that cannot be
    # converted (a Flex op, say) leaves the output folder as it was.
    tflite_models: dict[str, bytes] = {}
    if "tflite" in fmt_list:
        # A module of its own: its functions trace under `_core.export_graph`,
        # the SavedModel's as in training.
        lite, own = _make_serving(model), _own_windows(model)
        for q in quant_list:
            step(f"converting {tflite_name(q)} ({_QUANT_TITLES[q]})")
            tflite_models[q] = _convert_tflite(lite, q, representative, own)

    out.mkdir(parents=True, exist_ok=True)
    # Temporary files and folders of an export that was killed (never a live one's).
    fileio.remove_stale_temps(out, _output_names())
    written: dict[str, Path] = {}
    if "savedmodel" in fmt_list:
        step(f"writing {SAVEDMODEL_DIR}/")
        target = out / SAVEDMODEL_DIR
        with _atomic_dir(target) as tmp:
            tf.saved_model.save(
                module,
                os.fspath(tmp),
                signatures={SIGNATURE: module.serve},
            )
            (tmp / "assets").mkdir(exist_ok=True)
            (tmp / "assets" / "labels.txt").write_text("\n".join(labels) + "\n")
        written["savedmodel"] = target
        report["exports"]["savedmodel"] = {
            "format": "savedmodel",
            "quantize": "none",
            "path": SAVEDMODEL_DIR,
            "size_bytes": sum(f.stat().st_size for f in target.rglob("*") if f.is_file()),
            "signature": SIGNATURE,
        }
    for q, content in tflite_models.items():
        target = out / tflite_name(q)
        _write_atomic(target, content)
        key = _export_key("tflite", q)
        written[key] = target
        report["exports"][key] = {
            "format": "tflite",
            "quantize": q,
            "path": target.name,
            "size_bytes": len(content),
            "ops": tflite_ops(content),
            **TFLiteRunner(content).quantization(),
        }

    _write_atomic(out / "labels.txt", "\n".join(labels) + "\n")
    _write_atomic(out / "labels.json", _json({"dataset": dataset, "labels": labels}))

    if verify:
        step(f"checking keras on {len(x_test)} test images")
        keras_runner = KerasRunner(model)
        reference = keras_runner(x_test)
        one = x_test[:1]
        report["keras"] = {
            "test_acc": float((reference.argmax(-1) == y_test).mean()),
            # Keras's compiled predict step for one image, TensorFlow's own threads.
            "latency_ms": latency_ms(
                lambda: model.predict_on_batch(keras_runner.scale(one)), latency_runs
            ),
        }
        for key, path in written.items():
            entry = report["exports"][key]
            step(f"checking {path.name} on {len(x_test)} test images")
            if key == "savedmodel":
                runner: Any = SavedModelRunner(path)
                probs = _batched(runner, x_test, 1000)
                entry.update(_compare(probs, reference, y_test))
                entry["latency_ms"] = latency_ms(lambda r=runner: r(one), latency_runs)
            else:
                probs = _batched(TFLiteRunner(path), x_test, 1000)
                entry.update(_compare(probs, reference, y_test))
                single = TFLiteRunner(path, num_threads=1)
                entry["latency_ms"] = latency_ms(lambda r=single: r(one), latency_runs)
                entry["latency_threads"] = 1

    _write_atomic(out / REPORT_FILE, _json(report))
    for line in format_report(report):
        say(line)
    return report


def format_report(report: dict[str, Any]) -> list[str]:
    """The report as printable lines, one per export."""
    lines = [
        f"exported {report['source']} to {report['out']} "
        f"(input {report['input']['dtype']} {report['input']['shape']}, "
        f"scaling {report['input']['preprocessing']}; trained as "
        f"{report['precision']['trained']}"
        + (", rebuilt in float32)" if report["precision"]["rebuilt"] else ")")
    ]

    def num(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines.append(
        f"{'export':16s} {'size':>10s} {'max|Δp|':>9s} {'agree':>7s} {'test acc':>8s} "
        f"{'ms/img':>7s}"
    )
    keras_entry = report.get("keras")
    if keras_entry:
        lines.append(
            f"{'keras':16s} {'':>10s} {'':>9s} {'':>7s} {num(keras_entry['test_acc'], '.4f'):>8s} "
            f"{num(keras_entry['latency_ms'], '.3f'):>7s}"
        )
    for key, e in report["exports"].items():
        lines.append(
            f"{key:16s} {e['size_bytes']:>10,d} {num(e.get('max_abs_diff'), '.2e'):>9s} "
            f"{num(e.get('agreement'), '.4f'):>7s} {num(e.get('test_acc'), '.4f'):>8s} "
            f"{num(e.get('latency_ms'), '.3f'):>7s}"
        )
    if "tflite_int8" in report["exports"]:
        q = report["exports"]["tflite_int8"]
        lines.append(
            f"int8: input {q['input']['dtype']} scale {q['input']['scale']:g} zero point "
            f"{q['input']['zero_point']}; output {q['output']['dtype']} scale "
            f"{q['output']['scale']:g} zero point {q['output']['zero_point']}"
        )
    return lines


# --------------------------------------------------------------------------
# Prediction on image files
# --------------------------------------------------------------------------


MAX_IMAGE_PIXELS = 89_478_485
"""Largest image `load_image` decodes (Pillow's own decompression-bomb limit)."""


def load_image(
    path: str | os.PathLike,
    size: tuple[int, int] = (28, 28),
    invert: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Reads an image file as a uint8 grayscale array of `size` (height, width).

    Any format Pillow reads works (PNG, JPEG, ...), at any size. Transparent
    pixels count as white (a drawing on a transparent canvas is dark-on-light),
    the EXIF orientation of photos is honoured, and the image is resized with
    Lanczos resampling.

    Args:
        path: The image file.
        size: `(height, width)` of the result.
        invert: Replace each pixel `p` by `255 - p`, for dark-on-light
            pictures (the datasets are light-on-dark).
        max_pixels: Refuse images of more pixels than this (width times
            height, read from the header before decoding), so that a huge or
            hostile file cannot exhaust memory.

    Returns:
        A `uint8` array of shape `size`.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not an image Pillow can read, or is too large.
    """
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No such image file. Received: image={os.fspath(path)!r}")

    def too_large(width: int, height: int) -> ValueError:
        return ValueError(
            f"The image is {width}x{height} = {width * height:,} pixels, more than the "
            f"limit of {max_pixels:,}; scale it down first. Received: image={os.fspath(path)!r}"
        )

    try:
        with warnings.catch_warnings():
            # Sizes past Pillow's warning threshold are refused below, by name.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img_file = Image.open(p)
        with img_file as img:
            if img.width * img.height > max_pixels:
                raise too_large(img.width, img.height)
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(canvas, rgba)
            gray = img.convert("L")
            if gray.size != (size[1], size[0]):
                gray = gray.resize((size[1], size[0]), Image.Resampling.LANCZOS)
            pixels = np.asarray(gray, dtype=np.uint8)
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{int(found.group(1)):,}" if found else "too many"
        raise ValueError(
            f"The image has {count} pixels, more than "
            f"the limit of {max_pixels:,}; scale it down first. "
            f"Received: image={os.fspath(path)!r}"
        ) from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f"Cannot read the image ({err}). Received: image={os.fspath(path)!r}"
        ) from None
    return 255 - pixels if invert else pixels.copy()


def _read_labels(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError as err:
        raise ValueError(
            f"Cannot read the labels file ({err.strerror}). Received: labels={os.fspath(path)!r}"
        ) from None
    if path.suffix == ".json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"The labels file is not valid JSON ({err}). Received: labels={os.fspath(path)!r}"
            ) from None
        value = value.get("labels") if isinstance(value, dict) else value
        if not isinstance(value, list):
            raise ValueError(
                "The labels JSON must be a list of names or hold one under 'labels'. "
                f"Received: labels={os.fspath(path)!r}"
            )
        return [str(v) for v in value]
    return [line.strip() for line in text.splitlines() if line.strip()]


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
    p = Path(model)
    if not p.exists():
        raise FileNotFoundError(f"No such file or folder. Received: model={os.fspath(model)!r}")
    names: list[str] | None = None
    beside: list[Path] = []
    runner: Any
    if p.is_dir() and (p / SAVEDMODEL_DIR / "saved_model.pb").is_file():
        p = p / SAVEDMODEL_DIR
    if p.is_dir() and (p / "saved_model.pb").is_file():
        try:
            runner = SavedModelRunner(p)
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"The SavedModel has no {SIGNATURE!r} signature taking {INPUT_NAME!r} "
                f"({err}). Received: model={os.fspath(model)!r}"
            ) from None
        beside = [p / "assets" / "labels.txt", p.parent / "labels.txt"]
    elif p.is_file() and p.suffix == ".tflite":
        try:
            runner = TFLiteRunner(p)
        except (ValueError, RuntimeError) as err:
            raise ValueError(
                f"Cannot load the TFLite model ({err}). Received: model={os.fspath(model)!r}"
            ) from None
        beside = [p.parent / "labels.txt"]
    elif p.is_dir() or p.suffix == ".keras":
        keras_model, config = load_keras(p, strict=True)
        keras_model, carried = raw_pixel_model(keras_model, config)
        keras_model, _ = to_float32(keras_model)
        runner = KerasRunner(keras_model)
        folder = p if p.is_dir() else p.parent
        beside = [folder / "labels.txt"]
        names = carried["labels"]
        if names is None and carried["dataset"]:
            # A legacy model: its run's dataset names the classes.
            names = _labels(carried["dataset"], int(keras_model.output_shape[-1]))
    else:
        raise ValueError(
            "Expected a .keras file, a run folder, a .tflite file or a SavedModel folder. "
            f"Received: model={os.fspath(model)!r}"
        )
    if labels is not None:
        if not Path(labels).is_file():
            raise FileNotFoundError(f"No such labels file. Received: labels={os.fspath(labels)!r}")
        names = _read_labels(Path(labels))
    elif names is None:
        found = next((f for f in beside if f.is_file()), None)
        names = _read_labels(found) if found else None
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
