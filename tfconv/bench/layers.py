"""Section 1: LeNet training and layer microbenchmarks, tfconv's layers vs Keras's."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from tfconv.bench.timing import PrintFn, best_time, compiled_model, quiet, single_thread

# (batch, height, width, in channels, out channels, kernel, padding)
CONV_SHAPES = (
    (256, 28, 28, 1, 6, 5, "same"),  # LeNet conv1
    (256, 14, 14, 6, 16, 5, "valid"),  # LeNet conv2
    (64, 32, 32, 16, 32, 3, "same"),
    (16, 56, 56, 64, 64, 3, "same"),
)
# (batch, height, width, channels, window, stride)
POOL_SHAPES = (
    (256, 28, 28, 6, 2, 2),  # LeNet pool1
    (256, 10, 10, 16, 2, 2),  # LeNet pool2
    (64, 56, 56, 32, 3, 2),  # overlapping windows
)


def layers_training(
    variant: str = "lenet",
    batch_size: int = 256,
    epochs: int = 3,
    jit: bool = False,
    limit_train: int | None = None,
    data_dir: str | None = None,
    print_fn: PrintFn = quiet,
    cpu_time: bool = False,
) -> dict[str, Any]:
    """Training examples/sec of `variant` built from tfconv's layers vs Keras's.

    Args:
        variant: Model variant.
        batch_size: Batch size of both runs.
        epochs: Timed epochs per model, alternating between the two (one
            untimed warm-up epoch each first).
        jit: XLA compilation for both.
        limit_train: Train on the first N examples only.
        data_dir: Where the Fashion-MNIST files are.
        print_fn: Progress lines.
        cpu_time: Time with the process's CPU time instead of the wall clock
            (steadier on a shared machine; pin TensorFlow to one thread first).

    Returns:
        Median examples/sec of each, their ratio (tfconv / keras) and samples.
    """
    from tfconv import data

    pipes = data.pipelines("fashion_mnist", batch_size, data_dir=data_dir, limit_train=limit_train)
    contenders = _warmed_contenders(variant, jit, pipes.train)
    clock = time.process_time if cpu_time else time.perf_counter
    samples = _alternating_epochs(contenders, pipes, epochs, clock, print_fn)
    med = {name: statistics.median(v) for name, v in samples.items()}
    return {
        "variant": variant,
        "batch_size": batch_size,
        "jit": jit,
        "tfconv_examples_per_sec": med["tfconv"],
        "keras_examples_per_sec": med["keras"],
        "ratio": med["tfconv"] / med["keras"],
        "samples": samples,
    }


def _warmed_contenders(variant: str, jit: bool, train_ds: Any) -> dict[str, Any]:
    """Both models, seeded alike and past one untimed epoch (tracing, warm-up)."""
    import keras

    contenders = {}
    for layers in ("tfconv", "keras"):
        keras.utils.set_random_seed(0)
        model = compiled_model(variant, layers, jit)
        model.fit(train_ds, epochs=1, verbose=0)
        contenders[layers] = model
    return contenders


def _alternating_epochs(
    contenders: dict[str, Any],
    pipes: Any,
    epochs: int,
    clock: Callable[[], float],
    print_fn: PrintFn,
) -> dict[str, list[float]]:
    """Examples/sec of each contender's epochs, the two taking turns."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for epoch in range(epochs):
        for name, model in contenders.items():
            start = clock()
            model.fit(pipes.train, epochs=1, verbose=0)
            rate = pipes.num_train / (clock() - start)
            samples[name].append(rate)
            print_fn(f"  epoch {epoch + 1} {name:6s} {rate:8.0f} examples/sec")
    return samples


def layers_training_single_thread(**kwargs: Any) -> dict[str, Any]:
    """`layers_training` on one TensorFlow thread, timed by process CPU time.

    Runs in a fresh Python process, since TensorFlow's thread pools cannot be
    narrowed once started. On a shared 2-core machine wall-clock epochs of
    the same model swing between two speeds, so the wall-clock ratio moves
    from run to run; CPU time of one thread does not. Takes
    `layers_training`'s keyword arguments but `cpu_time` and `print_fn`.
    """
    return single_thread("layers_training", kwargs)


def layer_micro(quick: bool = False, print_fn: PrintFn = quiet) -> list[dict[str, Any]]:
    """Forward and forward+backward milliseconds of tfconv's layers vs Keras's.

    Returns:
        One row per shape and layer kind with both timings and their ratios
        (Keras time / tfconv time, so > 1 means tfconv is faster).
    """
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(0)
    repeats, number = (2, 2) if quick else (5, 5)
    conv_shapes = CONV_SHAPES[:2] if quick else CONV_SHAPES
    pool_shapes = POOL_SHAPES[:1] if quick else POOL_SHAPES
    rows = _conv_rows(conv_shapes, rng, repeats, number, print_fn)
    return rows + _pool_rows(pool_shapes, rng, repeats, number, print_fn)


def _paired_timings(layer_a: Any, layer_b: Any, x: Any, repeats: int, number: int) -> dict:
    """`layer_timings` of two fresh layers after building both and sharing `layer_a`'s weights."""
    layer_a(x)
    layer_b(x)
    layer_b.set_weights(layer_a.get_weights())
    return layer_timings(layer_a, layer_b, x, repeats, number)


def _conv_rows(
    shapes: Any, rng: Any, repeats: int, number: int, print_fn: PrintFn
) -> list[dict[str, Any]]:
    import keras

    from tfconv import layers as tl

    rows = []
    for n, h, w, ci, co, k, pad in shapes:
        x = rng.normal((n, h, w, ci))
        row = {"layer": f"Conv2D {k}x{k} {pad}", "input": [n, h, w, ci], "filters": co}
        mine, theirs = tl.Conv2D(co, k, padding=pad), keras.layers.Conv2D(co, k, padding=pad)
        row.update(_paired_timings(mine, theirs, x, repeats, number))
        rows.append(row)
        print_fn(
            f"  {row['layer']:18s} {row['input']} -> {co}: fwd+bwd x{row['fwd_bwd_speedup']:.2f}"
        )
    return rows


def _pool_rows(
    shapes: Any, rng: Any, repeats: int, number: int, print_fn: PrintFn
) -> list[dict[str, Any]]:
    import keras

    from tfconv import layers as tl

    kinds = (
        (tl.MaxPool2D, keras.layers.MaxPooling2D, "MaxPool2D"),
        (tl.AvgPool2D, keras.layers.AveragePooling2D, "AvgPool2D"),
    )
    rows = []
    for n, h, w, c, k, s in shapes:
        x = rng.normal((n, h, w, c))
        for mine, theirs, kind in kinds:
            row = {"layer": f"{kind} {k}x{k}/{s}", "input": [n, h, w, c]}
            row.update(_paired_timings(mine(k, s), theirs(k, s), x, repeats, number))
            rows.append(row)
            print_fn(f"  {row['layer']:18s} {row['input']}: fwd+bwd x{row['fwd_bwd_speedup']:.2f}")
    return rows


def layer_timings(
    layer_a: Any,
    layer_b: Any,
    x: Any,
    repeats: int,
    number: int,
    input_grad: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Forward and forward+backward ms of two built layers with the same weights.

    The backward pass asks for the gradients of the layer's weights, and of
    its input unless `input_grad` is false (a model's first layer never needs
    it, and tfconv's conv prunes it).
    """
    out = {}
    for name, layer in (("tfconv", layer_a), ("keras", layer_b)):
        fwd, fwd_bwd = _traced_passes(layer, input_grad)
        for _ in range(2):  # tracing, then XLA's compilation on first call
            fwd(x)
            fwd_bwd(x)
        out[f"{name}_fwd_ms"] = 1e3 * best_time(lambda f=fwd: f(x).numpy(), repeats, number, clock)
        out[f"{name}_fwd_bwd_ms"] = 1e3 * best_time(
            lambda f=fwd_bwd: [g.numpy() for g in f(x)], repeats, number, clock
        )
    out["fwd_speedup"] = out["keras_fwd_ms"] / out["tfconv_fwd_ms"]
    out["fwd_bwd_speedup"] = out["keras_fwd_bwd_ms"] / out["tfconv_fwd_bwd_ms"]
    return out


def _traced_passes(layer: Any, input_grad: bool) -> tuple[Any, Any]:
    """`layer`'s forward pass and forward+backward pass as tf.functions."""
    import tensorflow as tf

    fwd = tf.function(lambda x: layer(x))

    @tf.function
    def fwd_bwd(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(y, ([x] if input_grad else []) + list(layer.trainable_variables))

    return fwd, fwd_bwd


def describe_layer(layer: Any) -> str:
    """A short description like `Conv2D 64 3x3/1 same` or `MaxPool2D 3x3/2 same`."""
    config = layer.get_config()
    kind = type(layer).__name__
    padding = config["padding"] if isinstance(config["padding"], str) else "explicit"
    if "filters" in config:
        k, s = config["kernel_size"], config["strides"]
        groups = config.get("groups", 1)
        extra = f" g{groups}" if groups != 1 else ""
        return f"{kind} {config['filters']} {k[0]}x{k[1]}/{s[0]} {padding}{extra}"
    k, s = config["pool_size"], config["strides"]
    return f"{kind} {k[0]}x{k[1]}/{s[0]} {padding}"
