"""The serving graph: a `tf.Module` that maps uint8 pixels to probabilities,
and the SavedModel folder written from it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tfconv.export.options import INPUT_NAME, LABELS_TXT, OUTPUT_NAME, SIGNATURE
from tfconv.utils import fileio


def image_shape(model: Any) -> tuple[int, ...]:
    """The pixel shape of one image the exported graph takes: `(H, W)` for grayscale."""
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            "Only models of fixed-size (height, width, channels) images can be exported. "
            f"Received: input_shape={model.input_shape}"
        )
    # A grayscale model takes (batch, height, width) pixels, as a phone camera
    # crop or the dataset stores them.
    return shape[:2] if shape[2] == 1 else shape


def make_serving(model: Any) -> Any:
    """A `tf.Module` with `serve(uint8 images)` and `serve_float(float images)`.

    `model` takes raw pixels (see `raw_pixel_model`): its own first layer scales them.

    `serve_float` takes the same 0-255 pixels as float32; full-integer
    conversion needs a float input to attach its uint8 quantisation to.
    """
    import tensorflow as tf

    pixels_shape = image_shape(model)
    add_channel = len(pixels_shape) == 2

    def probabilities(pixels: Any) -> dict[str, Any]:
        x = tf.cast(pixels, tf.float32)
        if add_channel:
            # A RESHAPE to a constant shape: `x[..., None]` converts to a RESHAPE
            # plus an identity STRIDED_SLICE that LiteRT runs on its own, slower
            # kernels (see docs/bench/export.md).
            x = tf.reshape(x, [-1, *pixels_shape, 1])
        logits = model(x, training=False)
        return {OUTPUT_NAME: tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)}

    module = tf.Module()
    # Keras 3 variables wrap tf.Variables; tracking the wrapped ones is what makes
    # tf.saved_model.save store them and lets the TFLite converter freeze them
    # into constants (untracked, they become uninitialised resource variables).
    module.model_variables = [v.value for v in model.variables]
    module.serve = tf.function(
        probabilities,
        input_signature=[tf.TensorSpec([None, *pixels_shape], tf.uint8, name=INPUT_NAME)],
    )
    module.serve_float = tf.function(
        probabilities,
        input_signature=[tf.TensorSpec([None, *pixels_shape], tf.float32, name=INPUT_NAME)],
    )
    return module


def write_savedmodel(module: Any, target: Path, labels: list[str]) -> None:
    """Saves `module` with its `serve` signature, and the labels as an asset, atomically."""
    import tensorflow as tf

    with fileio.atomic_dir(target) as tmp:
        tf.saved_model.save(module, os.fspath(tmp), signatures={SIGNATURE: module.serve})
        (tmp / "assets").mkdir(exist_ok=True)
        (tmp / "assets" / LABELS_TXT).write_text("\n".join(labels) + "\n")
