"""The check of every written file: each is loaded again and compared with the
Keras model on the test set (differences, agreement, accuracy, latency).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.export.runners import KerasRunner, SavedModelRunner, TFLiteRunner, latency_ms

_BATCH = 1000


def _batched(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([run(x[i : i + size]) for i in range(0, len(x), size)])


def compare(probs: np.ndarray, reference: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """Max |Δ| of `probs` against `reference`, argmax agreement, and accuracy on `labels`."""
    result = {
        "max_abs_diff": float(np.abs(probs - reference).max()),
        "agreement": float((probs.argmax(-1) == reference.argmax(-1)).mean()),
    }
    if labels is not None:
        result["test_acc"] = float((probs.argmax(-1) == labels).mean())
    return result


def check_keras(
    model: Any, x_test: np.ndarray, y_test: np.ndarray, latency_runs: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """`(reference probabilities, report entry)` of the Keras model itself."""
    runner = KerasRunner(model)
    reference = runner(x_test)
    one = x_test[:1]
    entry = {
        "test_acc": float((reference.argmax(-1) == y_test).mean()),
        # Keras's compiled predict step for one image, TensorFlow's own threads.
        "latency_ms": latency_ms(lambda: model.predict_on_batch(runner.scale(one)), latency_runs),
    }
    return reference, entry


def check_file(
    key: str,
    path: Path,
    x_test: np.ndarray,
    y_test: np.ndarray,
    reference: np.ndarray,
    latency_runs: int,
) -> dict[str, Any]:
    """One written file's numbers against `reference` (TFLite's latency on one thread)."""
    one = x_test[:1]
    if key == "savedmodel":
        runner: Any = SavedModelRunner(path)
        result = compare(_batched(runner, x_test, _BATCH), reference, y_test)
        result["latency_ms"] = latency_ms(lambda: runner(one), latency_runs)
        return result
    result = compare(_batched(TFLiteRunner(path), x_test, _BATCH), reference, y_test)
    single = TFLiteRunner(path, num_threads=1)
    result["latency_ms"] = latency_ms(lambda: single(one), latency_runs)
    result["latency_threads"] = 1
    return result


def verify_exports(
    report: dict[str, Any],
    model: Any,
    written: dict[str, Path],
    x_test: np.ndarray,
    y_test: np.ndarray,
    latency_runs: int,
    step: Callable[[str], None],
) -> None:
    """Adds the Keras model's numbers and every written file's to `report`."""
    step(f"checking keras on {len(x_test)} test images")
    reference, report["keras"] = check_keras(model, x_test, y_test, latency_runs)
    for key, path in written.items():
        step(f"checking {path.name} on {len(x_test)} test images")
        report["exports"][key].update(
            check_file(key, path, x_test, y_test, reference, latency_runs)
        )
