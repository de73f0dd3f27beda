"""Conversion of the serving module to TFLite flatbuffers, float or quantised,
with builtin ops only, each file checked and run once before it is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from tfconv.export.errors import ExportError, UnsupportedOpError
from tfconv.export.ops_check import check_builtin_ops
from tfconv.utils.runtime import quiet_stderr

REPRESENTATIVE_IMAGES = 300

_NEEDS_FLEX = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_UNSUPPORTED = re.compile(r"'tf\.(\w+)' op is not supported")


def representative_images(x_train: np.ndarray) -> np.ndarray:
    """The training images int8 calibration sees: a fixed random few hundred, in order."""
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x_train), min(REPRESENTATIVE_IMAGES, len(x_train)), replace=False)
    return x_train[np.sort(pick)]


def conversion_error(err: Exception, what: str) -> ExportError:
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


def _quantize(converter: Any, quantize: str, representative: np.ndarray | None) -> None:
    """Sets the converter up for one quantisation mode (`"none"` leaves it float32)."""
    import tensorflow as tf

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


def _converter(module: Any, quantize: str, representative: np.ndarray | None) -> Any:
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
    _quantize(converter, quantize, representative)
    return converter


def convert_tflite(
    module: Any,
    quantize: str,
    representative: np.ndarray | None,
    own_windows: bool = False,
) -> bytes:
    """Converts the serving module to a TFLite flatbuffer with builtin ops only.

    Args:
        module: The serving module (see `make_serving`).
        quantize: One of `QUANTIZATIONS`.
        representative: Raw training pixels to calibrate `"int8"` on.
        own_windows: Fail on a convolution or pooling kernel in the file too.

    Returns:
        The `.tflite` file's bytes.
    """
    converter = _converter(module, quantize, representative)
    what = f"TFLite export ({quantize})"
    try:
        with quiet_stderr():  # the C++ diagnostics; the exception carries them
            content = converter.convert()
    except Exception as err:
        raise conversion_error(err, what) from None
    # The converter was told builtins only; checking the file as well costs
    # nothing and guards against a Flex op slipping through another path.
    check_builtin_ops(content, what, own_windows=own_windows)
    smoke_run(content, what)
    return content


def smoke_run(content: bytes, what: str) -> None:
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
