"""Section 1b: one training step of the `ZOO` models, tfconv's layers vs Keras's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tfconv.bench.layers import describe_layer, layer_timings
from tfconv.bench.timing import PrintFn, quiet, single_thread
from tfconv.bench.zoo_models import ZOO, ZooModel


def train_step(model: Any) -> Any:
    """One training step of `model` (forward, backward, SGD with momentum) as a tf.function.

    What `model.fit` runs per batch, without its callbacks and metrics, whose
    cost is the same for both contenders.
    """
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def zoo(
    quick: bool = False,
    cpu_time: bool = False,
    rounds: int | None = None,
    steps: int | None = None,
    models: list[str] | None = None,
    per_layer: bool = False,
    print_fn: PrintFn = quiet,
) -> list[dict[str, Any]]:
    """Training-step milliseconds of the `ZOO` models, tfconv's layers vs Keras's.

    Both models of a pair are built by one function, Keras's gets tfconv's
    weights, and their timed windows of `steps` steps alternate for `rounds`
    rounds (the order flipping every round), so that a shared machine's noise
    falls on both. Each contender's fastest window is reported: noise only
    ever adds time.

    Args:
        quick: Batch 2 and small images (`ZOO`'s quick shapes), one round of
            one step: checks that every model runs.
        cpu_time: Time with process CPU time (pin TensorFlow to one thread
            first, as `single_thread` does) instead of the wall clock.
        rounds: Timed windows per contender (default 5, quick 1).
        steps: Training steps per window (default 5, quick 1).
        models: Names from `ZOO` to run (default all).
        per_layer: Also time each tfconv conv/pool layer's forward and
            forward+backward pass at its input shape against Keras's layer
            (when `quick`, only the first model's first such layer: each
            timed layer costs two more traces and compilations).
        print_fn: Progress lines.

    Returns:
        One row per model: `tfconv_ms` and `keras_ms` per step, `ratio`
        (`keras_ms / tfconv_ms`: tfconv's speed relative to Keras's), the
        windows' `samples`, `output_rel_diff` (the two models' largest
        output difference before training, relative to Keras's largest
        output), and `layers` rows when `per_layer`. A model whose
        layers tfconv's `Conv2D` does not accept (`groups` before it existed)
        gets a `skipped` reason instead.
    """
    settings = {
        "quick": quick,
        "clock": time.process_time if cpu_time else time.perf_counter,
        "rounds": rounds or (1 if quick else 5),
        "steps": steps or (1 if quick else 5),
        "per_layer": per_layer,
    }
    rows: list[dict[str, Any]] = []
    for entry in ZOO:
        if not models or entry.name in models:
            rows.append(_zoo_row(entry, first=not rows, print_fn=print_fn, **settings))
    return rows


def _zoo_row(
    entry: ZooModel,
    *,
    quick: bool,
    clock: Callable[[], float],
    rounds: int,
    steps: int,
    per_layer: bool,
    first: bool,
    print_fn: PrintFn,
) -> dict[str, Any]:
    """`zoo`'s row of one model: build both, check they agree, time them."""
    import keras

    from tfconv import layers as tl

    shape, batch = (entry.quick_shape, 2) if quick else (entry.input_shape, entry.batch_size)
    row: dict[str, Any] = {"model": entry.name, "batch_size": batch, "input_shape": list(shape)}
    keras.utils.set_random_seed(0)
    try:
        mine = entry.build(tl, shape)
    except (TypeError, ValueError) as e:
        row["skipped"] = f"tfconv's layers cannot build it: {e}"
        print_fn(f"  {entry.name:14s} skipped: {row['skipped']}")
        return row
    theirs = entry.build(keras.layers, shape)
    theirs.set_weights(mine.get_weights())
    rng, x, y = _random_batch(batch, shape)
    # Same architecture, same weights: the same function (checked, not assumed).
    row["output_rel_diff"] = _output_rel_diff(mine, theirs, x)
    samples = _interleaved_windows(mine, theirs, x, y, rounds, steps, clock)
    best = {k: min(v) for k, v in samples.items()}
    ratio = best["keras"] / best["tfconv"]
    row.update(tfconv_ms=best["tfconv"], keras_ms=best["keras"], ratio=ratio, samples=samples)
    print_fn(
        f"  {entry.name:14s} batch {batch:3d}: tfconv {best['tfconv']:8.2f} ms, keras "
        f"{best['keras']:8.2f} ms per step, ratio {ratio:.2f}"
    )
    if per_layer:
        row["layers"] = _per_layer_rows(mine, theirs, rng, batch, quick, first, clock)
    return row


def _random_batch(batch: int, shape: tuple[int, int, int]) -> tuple[Any, Any, Any]:
    """A seeded generator and one batch of random images and labels drawn from it."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, *shape), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, batch))
    return rng, x, y


def _output_rel_diff(mine: Any, theirs: Any, x: Any) -> float:
    """Largest output difference of two models, relative to `theirs`'s largest output."""
    import numpy as np

    ref = theirs(x, training=False).numpy()
    diff = np.abs(mine(x, training=False).numpy() - ref).max()
    return float(diff / max(np.abs(ref).max(), 1e-30))


def _interleaved_windows(
    mine: Any,
    theirs: Any,
    x: Any,
    y: Any,
    rounds: int,
    steps: int,
    clock: Callable[[], float],
) -> dict[str, list[float]]:
    """Milliseconds per training step of each window, the contenders taking turns."""
    contenders = {"tfconv": train_step(mine), "keras": train_step(theirs)}
    for step in contenders.values():
        for _ in range(2):  # tracing, then XLA's compilations on first call
            step(x, y).numpy()
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(rounds):
        for k in contenders if r % 2 == 0 else reversed(contenders):
            start = clock()
            for _ in range(steps):
                loss = contenders[k](x, y)
            loss.numpy()
            samples[k].append(1e3 * (clock() - start) / steps)
    return samples


def _per_layer_rows(
    mine: Any,
    theirs: Any,
    rng: Any,
    batch: int,
    quick: bool,
    first: bool,
    clock: Callable[[], float],
) -> list[dict[str, Any]]:
    """`layer_timings` of each tfconv conv/pool layer against its Keras twin."""
    import numpy as np
    import tensorflow as tf

    from tfconv import layers as tl

    ours = (tl.Conv2D, tl.MaxPool2D, tl.AvgPool2D)
    rows: list[dict[str, Any]] = []
    for a, b in zip(mine.layers, theirs.layers, strict=True):
        if not isinstance(a, ours) or (quick and (rows or not first)):
            continue
        xa = tf.constant(rng.random((batch, *a.input.shape[1:]), dtype=np.float32))
        timing = layer_timings(
            a, b, xa, 1 if quick else 3, 1 if quick else 5,
            input_grad=a.input is not mine.inputs[0], clock=clock,
        )  # fmt: skip
        rows.append({"layer": describe_layer(a), "input": list(xa.shape), **timing})
    return rows


def zoo_section(quick: bool = False, print_fn: PrintFn = quiet) -> list[dict[str, Any]]:
    """The zoo twice: wall time here (TensorFlow's default threads), and
    one-thread process CPU time with per-layer timings in a fresh process
    (`single_thread`). Rows are `zoo`'s, with the wall-clock fields under
    `wall` and the one-thread ones under `cpu_1t`.
    """
    print_fn("  wall clock, default threads")
    wall = zoo(quick=quick, print_fn=print_fn)
    cpu = single_thread("zoo", {"quick": quick, "per_layer": True})
    return [_merged_row(w, c, print_fn) for w, c in zip(wall, cpu, strict=True)]


def _merged_row(w: dict[str, Any], c: dict[str, Any], print_fn: PrintFn) -> dict[str, Any]:
    """One model's wall-clock row `w` and one-thread row `c` as one row."""
    row = {k: w[k] for k in ("model", "batch_size", "input_shape")}
    if "skipped" in w:
        row["skipped"] = w["skipped"]
        return row
    row["output_rel_diff"] = w["output_rel_diff"]
    row["wall"] = {k: w[k] for k in ("tfconv_ms", "keras_ms", "ratio", "samples")}
    row["cpu_1t"] = {k: v for k, v in c.items() if k not in row}
    print_fn(
        f"  {row['model']:14s} one thread, CPU time: tfconv {c['tfconv_ms']:8.2f} ms, "
        f"keras {c['keras_ms']:8.2f} ms, ratio {c['ratio']:.2f}"
    )
    return row
