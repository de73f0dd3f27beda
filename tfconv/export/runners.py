"""Runners that give every model form the exported graphs' contract (uint8
pixels in, float32 probabilities out), and the latency timers used on them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tfconv.export.options import INPUT_NAME, OUTPUT_NAME, SIGNATURE
from tfconv.export.serving import image_shape


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
        # Worked out once, not per call: a single image runs so fast that
        # NumPy's per-call dtype checks would show in its latency.
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
            # instead of three NumPy passes (see docs/bench/export.md).
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
        self.image_shape = image_shape(model)
        self._channel = len(self.image_shape) == 2

    def scale(self, images: np.ndarray) -> np.ndarray:
        """The model's input for uint8 `(N, H, W)` pixels: float32, channel axis added.

        The pixels stay 0-255: the model's own `PixelScaling` layer scales them.
        """
        x = np.asarray(images, np.float32)
        return x[..., None] if self._channel else x

    def logits(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return np.asarray(self.model.predict(self.scale(images), batch_size, verbose=0))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        logits = self.logits(images).astype(np.float64)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


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
