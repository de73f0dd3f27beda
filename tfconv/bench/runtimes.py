"""Section 5: single-image latency and batch throughput of every way to run a LeNet."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfconv.bench.timing import PrintFn, best_time, compiled_model, quiet

_BATCH = 256


def inference(
    quick: bool = False, data_dir: str | None = None, print_fn: PrintFn = quiet
) -> dict[str, Any]:
    """Single-image latency and batch throughput of every way to run a LeNet.

    Keras `predict` (and `predict_on_batch`), the SavedModel, and TFLite
    float32 and int8 through LiteRT on one thread, all on the same Fashion-MNIST
    test images (uint8 pixels in, probabilities out). Keras and the SavedModel
    run on TensorFlow's own thread pool, which cannot be narrowed after start.
    """
    from tfconv import data

    model = _trained_lenet(quick, data_dir)
    _, (x_test, _) = data.load("fashion_mnist", data_dir=data_dir)
    one, batch = x_test[:1], x_test[:_BATCH]
    repeats = 20 if quick else 200
    results: dict[str, Any] = {}

    def record(name: str, latency: float, many: Callable[[], Any]) -> None:
        per_batch = best_time(many, repeats=3, number=3 if quick else 10)
        results[name] = {"latency_ms": latency, "batch_examples_per_sec": len(batch) / per_batch}
        print_fn(
            f"  {name:16s} one image {latency:7.3f} ms, batch of 256 "
            f"{len(batch) / per_batch:9.0f} images/sec"
        )

    _time_keras(model, one, batch, repeats, record)
    with tempfile.TemporaryDirectory() as tmp:
        _export_all(model, tmp, data_dir)
        _time_exported(Path(tmp), one, batch, repeats, record)
    return results


def _trained_lenet(quick: bool, data_dir: str | None) -> Any:
    """The book's LeNet after one epoch (a whole one unless `quick`)."""
    from tfconv import data

    model = compiled_model("lenet", "tfconv", jit=False)
    # int8 calibration wants a trained model: one epoch on 2048 images left the
    # sigmoid LeNet predicting one class, a whole epoch takes it past 60%.
    pipes = data.pipelines(
        "fashion_mnist", _BATCH, data_dir=data_dir, limit_train=2048 if quick else None
    )
    model.fit(pipes.train, epochs=1, verbose=0)
    return model


def _time_keras(model: Any, one: Any, batch: Any, repeats: int, record: Callable) -> None:
    """Keras `predict` and `predict_on_batch` on scaled pixels (the model before export)."""
    from tfconv import export
    from tfconv.layers.pixel_scaling import scale_pixels

    scaled_one = scale_pixels(one[..., None]).numpy()
    scaled_batch = scale_pixels(batch[..., None]).numpy()
    record(
        "keras_predict",
        export.latency_ms(lambda: model.predict(scaled_one, verbose=0), repeats),
        lambda: model.predict(scaled_batch, batch_size=_BATCH, verbose=0),
    )
    record(
        "keras_on_batch",
        export.latency_ms(lambda: model.predict_on_batch(scaled_one), repeats),
        lambda: model.predict_on_batch(scaled_batch),
    )


def _export_all(model: Any, out: str, data_dir: str | None) -> None:
    """A SavedModel and float32 and int8 TFLite files of `model` in `out`, unchecked."""
    from tfconv import export

    export.export_model(
        model, out, formats="all", quantize="none,int8", dataset="fashion_mnist",
        data_dir=data_dir, verify=False, print_fn=quiet,
    )  # fmt: skip


def _time_exported(out: Path, one: Any, batch: Any, repeats: int, record: Callable) -> None:
    """The SavedModel, then both TFLite files on one LiteRT thread."""
    from tfconv import export

    saved = export.SavedModelRunner(out / export.SAVEDMODEL_DIR)
    record("savedmodel", export.latency_ms(lambda: saved(one), repeats), lambda: saved(batch))
    runners = {
        name: export.TFLiteRunner(out / export.tflite_name(quantize), num_threads=1)
        for name, quantize in (("tflite_float32", "none"), ("tflite_int8", "int8"))
    }
    # The two files differ by a few microseconds, so they are timed in
    # turns, not one after the other.
    latencies = export.interleaved_latency_ms(
        {name: (lambda r=runner: r(one)) for name, runner in runners.items()}, repeats
    )
    for name, runner in runners.items():
        record(name, latencies[name], lambda r=runner: r(batch))
