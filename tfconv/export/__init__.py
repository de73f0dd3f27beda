"""Export a trained model to SavedModel and TensorFlow Lite, check it, and classify images.

`export_model` turns a run folder (or a `.keras` file, or a `keras.Model`)
into files a phone or a server can run without tfconv, then loads every file
again and compares it with the Keras model on the test set. This module only
gathers the package's public names; the work is done in:

| module | its job |
| --- | --- |
| `options` | formats, quantisations, file and signature names; argument parsing |
| `errors` | `ExportError`, `UnsupportedOpError` |
| `loading` | the source model: loaded, taking raw pixels, in float32 |
| `serving` | the `tf.Module` serving graph and the SavedModel written from it |
| `tflite` | conversion to TFLite, quantisation, calibration images |
| `ops_check` | the ops a `.tflite` file uses, and the builtin / own-kernel checks |
| `runners` | TFLite, SavedModel and Keras runners; latency timers |
| `verify` | every written file compared with Keras on the test set |
| `report` | the report's fields, JSON and printed summary |
| `pipeline` | `export_model`: the steps above in order |
| `labels` | class names from a dataset or a labels file |
| `images` | image files read as uint8 grayscale |
| `prediction` | `load_predictor` and `predict` on image files |

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

from tfconv.export.errors import ExportError, UnsupportedOpError
from tfconv.export.images import MAX_IMAGE_PIXELS, load_image
from tfconv.export.loading import load_keras, raw_pixel_model, to_float32
from tfconv.export.ops_check import check_builtin_ops, tflite_ops, window_ops
from tfconv.export.options import (
    FORMATS,
    INPUT_NAME,
    OUTPUT_NAME,
    QUANTIZATIONS,
    REPORT_FILE,
    SAVEDMODEL_DIR,
    SIGNATURE,
    parse_formats,
    parse_quantize,
    tflite_name,
)
from tfconv.export.pipeline import export_model
from tfconv.export.prediction import load_predictor, predict
from tfconv.export.report import format_report
from tfconv.export.runners import (
    KerasRunner,
    SavedModelRunner,
    TFLiteRunner,
    interleaved_latency_ms,
    latency_ms,
)
from tfconv.export.tflite import REPRESENTATIVE_IMAGES

__all__ = [
    "FORMATS",
    "INPUT_NAME",
    "MAX_IMAGE_PIXELS",
    "OUTPUT_NAME",
    "QUANTIZATIONS",
    "REPORT_FILE",
    "REPRESENTATIVE_IMAGES",
    "SAVEDMODEL_DIR",
    "SIGNATURE",
    "ExportError",
    "KerasRunner",
    "SavedModelRunner",
    "TFLiteRunner",
    "UnsupportedOpError",
    "check_builtin_ops",
    "export_model",
    "format_report",
    "interleaved_latency_ms",
    "latency_ms",
    "load_image",
    "load_keras",
    "load_predictor",
    "parse_formats",
    "parse_quantize",
    "predict",
    "raw_pixel_model",
    "tflite_name",
    "tflite_ops",
    "to_float32",
    "window_ops",
]
