"""The benchmark suite behind `tfconv bench`: measured, never assumed.

Every comparison is taken in one run with the contenders interleaved, so that
the noise of a shared machine falls on all of them alike, and every speed is
reported next to the machine's own measured matmul peak.

Sections (each a function returning a JSON-friendly dict):

1. `layers_training` and `layer_micro`: LeNet training with tfconv's layers
   vs Keras's, and forward/backward microbenchmarks of the layers;
   1b. `zoo_section`: one training step of common architectures (`ZOO`) with
   tfconv's layers vs Keras's, one-thread CPU time and wall time, per layer too;
2. `pipeline`: tfconv's `tf.data` pipeline vs a naive one, and the share of a
   training epoch spent waiting for input;
3. `roofline`: measured float32 matmul FLOP/s, LeNet's FLOPs per training
   example, and the achieved fraction of the peak;
4. `time_to_accuracy`: wall seconds from start to a test-accuracy target;
5. `inference`: single-image latency and batch throughput of Keras, SavedModel
   and TFLite (float32, int8) on one CPU thread;
6. `ops`: vectorised `corr2d`/`pool2d` vs the plain-loop reference.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfconv.models.cost import training_flops_per_example
from tfconv.utils import fileio, runtime

PrintFn = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _best_time(
    fn: Callable[[], Any],
    repeats: int = 5,
    number: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best of `repeats` timings of `number` calls, in seconds per call."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - start) / number)
    return best


def _compiled_model(variant: str, layers: str, jit: bool, lr: float | None = None) -> Any:

    from tfconv import models, train

    recipe = models.get_recipe(variant)
    model = models.build(variant, layers=layers)
    optimizer = train.make_optimizer(recipe.optimizer, lr or recipe.lr)
    return train.compile_model(model, optimizer, jit_compile=jit)


# --------------------------------------------------------------------------
# 1. Layers
# --------------------------------------------------------------------------


def layers_training(
    variant: str = "lenet",
    batch_size: int = 256,
    epochs: int = 3,
    jit: bool = False,
    limit_train: int | None = None,
    data_dir: str | None = None,
    print_fn: PrintFn = _quiet,
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
    import keras

    from tfconv import data

    pipes = data.pipelines("fashion_mnist", batch_size, data_dir=data_dir, limit_train=limit_train)
    contenders = {}
    for layers in ("tfconv", "keras"):
        keras.utils.set_random_seed(0)
        model = _compiled_model(variant, layers, jit)
        model.fit(pipes.train, epochs=1, verbose=0)  # tracing and warm-up
        contenders[layers] = model
    clock = time.process_time if cpu_time else time.perf_counter
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for epoch in range(epochs):
        for name, model in contenders.items():
            start = clock()
            model.fit(pipes.train, epochs=1, verbose=0)
            rate = pipes.num_train / (clock() - start)
            samples[name].append(rate)
            print_fn(f"  epoch {epoch + 1} {name:6s} {rate:8.0f} examples/sec")
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


_SINGLE_THREAD = """
import json, sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from tfconv import bench
result = getattr(bench, sys.argv[1])(cpu_time=True, **json.loads(sys.argv[2]))
print("RESULT " + json.dumps(result))
"""


def layers_training_single_thread(**kwargs: Any) -> dict[str, Any]:
    """`layers_training` on one TensorFlow thread, timed by process CPU time.

    Runs in a fresh Python process, since TensorFlow's thread pools cannot be
    narrowed once started. On a shared 2-core machine wall-clock epochs of
    the same model swing between two speeds (11.7k and 20k examples/sec for
    LeNet), so the wall-clock ratio moves from run to run; CPU time of one
    thread does not. Takes `layers_training`'s keyword arguments but `cpu_time`
    and `print_fn`.
    """
    return _single_thread("layers_training", kwargs)


def _single_thread(function: str, kwargs: dict[str, Any]) -> Any:
    """`tfconv.bench.<function>(cpu_time=True, **kwargs)` in a one-thread TensorFlow process."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-c", _SINGLE_THREAD, function, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"The single-thread benchmark failed:\n{done.stderr[-2000:]}")


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


def layer_micro(quick: bool = False, print_fn: PrintFn = _quiet) -> list[dict[str, Any]]:
    """Forward and forward+backward milliseconds of tfconv's layers vs Keras's.

    Returns:
        One row per shape and layer kind with both timings and their ratios
        (Keras time / tfconv time, so > 1 means tfconv is faster).
    """
    import keras
    import tensorflow as tf

    from tfconv import layers as tl

    def timings(layer_a: Any, layer_b: Any, x: Any) -> dict[str, float]:
        layer_a(x)
        layer_b(x)
        layer_b.set_weights(layer_a.get_weights())
        repeats, number = (2, 2) if quick else (5, 5)
        return _layer_timings(layer_a, layer_b, x, repeats, number)

    rows = []
    rng = tf.random.Generator.from_seed(0)
    conv_shapes = CONV_SHAPES[:2] if quick else CONV_SHAPES
    for n, h, w, ci, co, k, pad in conv_shapes:
        x = rng.normal((n, h, w, ci))
        row = {"layer": f"Conv2D {k}x{k} {pad}", "input": [n, h, w, ci], "filters": co}
        row.update(
            timings(tl.Conv2D(co, k, padding=pad), keras.layers.Conv2D(co, k, padding=pad), x)
        )
        rows.append(row)
        print_fn(
            f"  {row['layer']:18s} {row['input']} -> {co}: fwd+bwd x{row['fwd_bwd_speedup']:.2f}"
        )
    pool_shapes = POOL_SHAPES[:1] if quick else POOL_SHAPES
    for n, h, w, c, k, s in pool_shapes:
        x = rng.normal((n, h, w, c))
        for mine, theirs, kind in (
            (tl.MaxPool2D, keras.layers.MaxPooling2D, "MaxPool2D"),
            (tl.AvgPool2D, keras.layers.AveragePooling2D, "AvgPool2D"),
        ):
            row = {"layer": f"{kind} {k}x{k}/{s}", "input": [n, h, w, c]}
            row.update(timings(mine(k, s), theirs(k, s), x))
            rows.append(row)
            print_fn(f"  {row['layer']:18s} {row['input']}: fwd+bwd x{row['fwd_bwd_speedup']:.2f}")
    return rows


def _layer_timings(
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
    import tensorflow as tf

    out = {}
    for name, layer in (("tfconv", layer_a), ("keras", layer_b)):
        fwd = tf.function(lambda x, layer=layer: layer(x))

        @tf.function
        def fwd_bwd(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.reduce_sum(tf.square(layer(x)))
            return tape.gradient(y, ([x] if input_grad else []) + list(layer.trainable_variables))

        for _ in range(2):  # tracing, then XLA's compilation on first call
            fwd(x)
            fwd_bwd(x)
        out[f"{name}_fwd_ms"] = 1e3 * _best_time(
            lambda f=fwd: f(x).numpy(), repeats, number, clock
        )
        out[f"{name}_fwd_bwd_ms"] = 1e3 * _best_time(
            lambda f=fwd_bwd: [g.numpy() for g in f(x)], repeats, number, clock
        )
    out["fwd_speedup"] = out["keras_fwd_ms"] / out["tfconv_fwd_ms"]
    out["fwd_bwd_speedup"] = out["keras_fwd_bwd_ms"] / out["tfconv_fwd_bwd_ms"]
    return out


# --------------------------------------------------------------------------
# 1b. The layer zoo: common architectures, tfconv's layers vs Keras's
# --------------------------------------------------------------------------
#
# Each builder takes the module whose Conv2D / MaxPooling2D / AveragePooling2D
# it uses (`tfconv.layers` or `keras.layers`; everything else is Keras's) and
# the input shape, so both contenders have one architecture and one weight
# order.


def _zoo_head(x: Any) -> Any:
    import keras

    return keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))


def _zoo_lenet(layers: Any, shape: tuple[int, int, int]) -> Any:
    from tfconv import layers as tl
    from tfconv import models

    return models.build("lenet", layers="tfconv" if layers is tl else "keras")


def _zoo_mnist_convnet(layers: Any, shape: tuple[int, int, int]) -> Any:
    """Keras's "Simple MNIST convnet" example (logits instead of a softmax)."""
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = keras.layers.Dropout(0.5)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="mnist_convnet")


def _zoo_vgg_block(layers: Any, shape: tuple[int, int, int]) -> Any:
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    return keras.Model(inputs, _zoo_head(x), name="vgg_block")


def _zoo_resnet_pair(layers: Any, shape: tuple[int, int, int]) -> Any:
    """Two ResNet basic blocks: 64 channels, then 128 at stride 2 with a 1x1/2 shortcut."""
    import keras

    kl = keras.layers

    def conv_bn(x: Any, filters: int, kernel: int, strides: int = 1) -> Any:
        x = layers.Conv2D(filters, kernel, strides, padding="same", use_bias=False)(x)
        return kl.BatchNormalization()(x)

    inputs = keras.Input(shape)
    x = kl.ReLU()(conv_bn(inputs, 64, 3))
    x = kl.ReLU()(kl.Add()([conv_bn(x, 64, 3), inputs]))
    y = kl.ReLU()(conv_bn(x, 128, 3, 2))
    x = kl.ReLU()(kl.Add()([conv_bn(y, 128, 3), conv_bn(x, 128, 1, 2)]))
    return keras.Model(inputs, _zoo_head(x), name="resnet_pair")


def _zoo_grouped(groups: int | None) -> Callable[[Any, tuple[int, int, int]], Any]:
    """A 3x3 "same" conv with `groups` groups (None: depthwise, one per channel)."""

    def build(layers: Any, shape: tuple[int, int, int]) -> Any:
        import keras

        inputs = keras.Input(shape)
        x = layers.Conv2D(
            shape[-1], 3, padding="same", activation="relu", groups=groups or shape[-1]
        )(inputs)
        return keras.Model(inputs, _zoo_head(x), name=f"grouped_{groups or 'depthwise'}")

    return build


def _zoo_stem(layers: Any, shape: tuple[int, int, int]) -> Any:
    """An ImageNet stem: 7x7/2 "same" conv, batch norm, ReLU, 3x3/2 max pool."""
    import keras

    inputs = keras.Input(shape)
    x = layers.Conv2D(64, 7, 2, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = layers.MaxPooling2D(3, 2, padding="same")(x)
    return keras.Model(inputs, _zoo_head(x), name="stem")


# (name, builder, input shape, batch size, quick input shape)
ZOO: tuple[tuple[str, Callable[[Any, tuple[int, int, int]], Any], tuple[int, int, int], int,
                 tuple[int, int, int]], ...] = (
    ("lenet", _zoo_lenet, (28, 28, 1), 256, (28, 28, 1)),
    ("mnist_convnet", _zoo_mnist_convnet, (28, 28, 1), 128, (28, 28, 1)),
    ("vgg_block", _zoo_vgg_block, (32, 32, 3), 64, (8, 8, 3)),
    ("resnet_pair", _zoo_resnet_pair, (32, 32, 64), 64, (8, 8, 64)),
    ("grouped3x3_g4", _zoo_grouped(4), (56, 56, 64), 16, (8, 8, 64)),
    ("depthwise3x3", _zoo_grouped(None), (56, 56, 64), 16, (8, 8, 64)),
    ("stem7x7", _zoo_stem, (224, 224, 3), 8, (16, 16, 3)),
)  # fmt: skip


def _zoo_train_step(model: Any) -> Any:
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
    print_fn: PrintFn = _quiet,
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
            first, as `_single_thread` does) instead of the wall clock.
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
    import keras
    import numpy as np
    import tensorflow as tf

    from tfconv import layers as tl

    clock = time.process_time if cpu_time else time.perf_counter
    rounds = rounds or (1 if quick else 5)
    steps = steps or (1 if quick else 5)
    ours = (tl.Conv2D, tl.MaxPool2D, tl.AvgPool2D)
    rows: list[dict[str, Any]] = []
    for name, build, full_shape, full_batch, quick_shape in ZOO:
        if models and name not in models:
            continue
        shape, batch = (quick_shape, 2) if quick else (full_shape, full_batch)
        row: dict[str, Any] = {"model": name, "batch_size": batch, "input_shape": list(shape)}
        keras.utils.set_random_seed(0)
        try:
            mine = build(tl, shape)
        except (TypeError, ValueError) as e:
            row["skipped"] = f"tfconv's layers cannot build it: {e}"
            rows.append(row)
            print_fn(f"  {name:14s} skipped: {row['skipped']}")
            continue
        theirs = build(keras.layers, shape)
        theirs.set_weights(mine.get_weights())
        rng = np.random.default_rng(0)
        x = tf.constant(rng.random((batch, *shape), dtype=np.float32))
        y = tf.constant(rng.integers(0, 10, batch))
        # Same architecture, same weights: the same function (checked, not assumed).
        ref = theirs(x, training=False).numpy()
        row["output_rel_diff"] = float(
            np.abs(mine(x, training=False).numpy() - ref).max() / max(np.abs(ref).max(), 1e-30)
        )
        contenders = {"tfconv": _zoo_train_step(mine), "keras": _zoo_train_step(theirs)}
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
        best = {k: min(v) for k, v in samples.items()}
        row.update(
            tfconv_ms=best["tfconv"],
            keras_ms=best["keras"],
            ratio=best["keras"] / best["tfconv"],
            samples=samples,
        )
        print_fn(
            f"  {name:14s} batch {batch:3d}: tfconv {best['tfconv']:8.2f} ms, keras "
            f"{best['keras']:8.2f} ms per step, ratio {row['ratio']:.2f}"
        )
        if per_layer:
            row["layers"] = []
            for a, b in zip(mine.layers, theirs.layers, strict=True):
                if not isinstance(a, ours) or (quick and (row["layers"] or rows)):
                    continue
                xa = tf.constant(rng.random((batch, *a.input.shape[1:]), dtype=np.float32))
                timing = _layer_timings(
                    a, b, xa, 1 if quick else 3, 1 if quick else 5,
                    input_grad=a.input is not mine.inputs[0], clock=clock,
                )  # fmt: skip
                row["layers"].append(
                    {"layer": _describe_layer(a), "input": list(xa.shape), **timing}
                )
        rows.append(row)
    return rows


def _describe_layer(layer: Any) -> str:
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


def zoo_section(quick: bool = False, print_fn: PrintFn = _quiet) -> list[dict[str, Any]]:
    """The zoo twice: wall time here (TensorFlow's default threads, two on the
    project's VM), and one-thread process CPU time with per-layer timings in a
    fresh process (`_single_thread`). Rows are `zoo`'s, with the wall-clock
    fields under `wall` and the one-thread ones under `cpu_1t`.
    """
    print_fn("  wall clock, default threads")
    wall = zoo(quick=quick, print_fn=print_fn)
    cpu = _single_thread("zoo", {"quick": quick, "per_layer": True})
    rows = []
    for w, c in zip(wall, cpu, strict=True):
        row = {k: w[k] for k in ("model", "batch_size", "input_shape")}
        if "skipped" in w:
            row["skipped"] = w["skipped"]
        else:
            row["output_rel_diff"] = w["output_rel_diff"]
            row["wall"] = {k: w[k] for k in ("tfconv_ms", "keras_ms", "ratio", "samples")}
            row["cpu_1t"] = {k: v for k, v in c.items() if k not in row}
            print_fn(
                f"  {row['model']:14s} one thread, CPU time: tfconv {c['tfconv_ms']:8.2f} ms, "
                f"keras {c['keras_ms']:8.2f} ms, ratio {c['ratio']:.2f}"
            )
        rows.append(row)
    return rows


def zoo_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of `zoo_section`'s rows: one table of steps, one of layers."""
    lines = [
        "## 1b. Layer zoo: one training step, tfconv layers vs Keras layers (same weights)",
        "",
        "| model | batch | input | tfconv ms, 1 thread CPU | keras ms, 1 thread CPU | ratio "
        "| tfconv ms, wall | keras ms, wall | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        head = f"| {r['model']} | {r['batch_size']} | {'x'.join(map(str, r['input_shape']))} "
        if "skipped" in r:
            lines.append(head + f"| {r['skipped']} | | | | | |")
            continue
        c, w = r["cpu_1t"], r["wall"]
        lines.append(
            head + f"| {c['tfconv_ms']:.2f} | {c['keras_ms']:.2f} | {c['ratio']:.2f} "
            f"| {w['tfconv_ms']:.2f} | {w['keras_ms']:.2f} | {w['ratio']:.2f} |"
        )
    lines += [
        "",
        "Ratio: Keras's time / tfconv's (above 1, tfconv's layers are faster). Each "
        "contender's fastest of the interleaved windows. Per layer, one thread, CPU ms:",
        "",
        "| model | layer | input | tfconv fwd | keras fwd | tfconv fwd+bwd | keras fwd+bwd |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for la in r.get("cpu_1t", {}).get("layers", []):
            lines.append(
                f"| {r['model']} | {la['layer']} | {'x'.join(map(str, la['input']))} "
                f"| {la['tfconv_fwd_ms']:.2f} | {la['keras_fwd_ms']:.2f} "
                f"| {la['tfconv_fwd_bwd_ms']:.2f} | {la['keras_fwd_bwd_ms']:.2f} |"
            )
    return lines


# --------------------------------------------------------------------------
# 2. Input pipeline
# --------------------------------------------------------------------------


def _naive_pipeline(x: Any, y: Any, batch_size: int, seed: int = 0) -> Any:
    """The book's loader, as tf.data: batch before shuffle, rescale every epoch, no cache."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    ds = ds.shuffle(len(x) // batch_size + 1, seed=seed)
    return ds.map(lambda a, b: (tf.cast(a, tf.float32)[..., None] / 255.0, tf.cast(b, tf.int32)))


def pipeline(
    batch_size: int = 256,
    limit_train: int | None = None,
    data_dir: str | None = None,
    variant: str = "lenet",
    print_fn: PrintFn = _quiet,
    repeats: int | None = None,
) -> dict[str, Any]:
    """Examples/sec delivered by tfconv's pipeline vs a naive one, and input wait.

    Delivery is timed by draining whole epochs of each pipeline, interleaved,
    and taken from the fastest drain of each: on a shared machine noise only
    ever adds time. Process CPU time per drained epoch is kept too; it barely
    moves with the machine's load.

    What the pipeline costs training is measured two ways, because a small
    difference of two noisy timings alone can come out anywhere from 0% to
    several percent:

    - Wait share (indirect): training epochs fed by the pipeline alternate with
      epochs fed the very same batches from an in-memory cache of one epoch;
      `1 - t_in_memory / t_pipeline` (clipped at 0) from the fastest epoch of
      each.
    - Cost share (direct): the time, and the process CPU time, to drain one
      epoch of the pipeline alone, relative to those of a training epoch fed
      by it. Even when prefetching hides the pipeline (wait share 0), this is
      the CPU it competes with training for.

    Args:
        batch_size: Examples per batch.
        limit_train: Use only the first `limit_train` training examples.
        data_dir: Passed to `tfconv.data.load`.
        variant: The model trained in the wait and cost measurements.
        print_fn: Receives one summary line.
        repeats: Timed training epochs per contender, interleaved. Default 5,
            or 3 with `limit_train` set (the suite's quick mode). Drains are
            cheap and always repeated 7 times.

    Returns:
        A dict: `tfconv_examples_per_sec` and `naive_examples_per_sec` (from
        the fastest drain of each) and their ratio `speedup`;
        `epoch_seconds_pipeline` and `epoch_seconds_in_memory` (fastest
        training epoch of each) and `input_wait_share`; `drain_seconds` and
        `drain_cpu_seconds` (tfconv's fastest drain of one epoch: wall time,
        process CPU time), `naive_drain_cpu_seconds`, `epoch_cpu_seconds`
        (process CPU time of the cheapest training epoch fed by tfconv's
        pipeline), `pipeline_cost_share` (`drain_seconds /
        epoch_seconds_pipeline`) and `pipeline_cpu_share` (`drain_cpu_seconds /
        epoch_cpu_seconds`); `repeats`.
    """
    from tfconv import data

    if repeats is None:
        repeats = 3 if limit_train else 5
    pipes = data.pipelines("fashion_mnist", batch_size, data_dir=data_dir, limit_train=limit_train)
    (x, y), _ = data.load("fashion_mnist", data_dir=data_dir)
    if limit_train:
        x, y = x[:limit_train], y[:limit_train]
    naive = _naive_pipeline(x, y, batch_size)

    def timed(fn: Callable[[], Any]) -> tuple[float, float]:
        # Process CPU time counts tf.data's and TensorFlow's threads too, and
        # unlike wall time it barely moves when other jobs share the cores.
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    def drain(ds: Any) -> None:
        for _ in ds:
            pass

    sources = {"tfconv": pipes.train, "naive": naive}
    for ds in sources.values():
        drain(ds)  # warms up, as the first training epoch does
    drains: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
    for i in range(7):
        # Alternating the order cancels a slow drift of the machine's load.
        for name in ("tfconv", "naive") if i % 2 == 0 else ("naive", "tfconv"):
            drains[name].append(timed(lambda ds=sources[name]: drain(ds)))
    fastest = {k: min(w for w, _ in v) for k, v in drains.items()}
    cheapest = {k: min(c for _, c in v) for k, v in drains.items()}
    delivered = {k: len(x) / t for k, t in fastest.items()}
    drain_seconds, drain_cpu = fastest["tfconv"], cheapest["tfconv"]

    model = _compiled_model(variant, "tfconv", jit=False)
    # The same batches in the same order, including the last partial one,
    # already computed: only the pipeline's own work differs.
    in_memory = pipes.train.take(pipes.steps_per_epoch).cache()
    fit = {
        "real": lambda: model.fit(pipes.train, epochs=1, verbose=0),
        "memory": lambda: model.fit(in_memory, epochs=1, verbose=0),
    }
    for run in fit.values():
        run()  # traces the train step and fills the cache
    epochs: dict[str, list[tuple[float, float]]] = {"real": [], "memory": []}
    for i in range(repeats):
        for name in ("real", "memory") if i % 2 == 0 else ("memory", "real"):
            epochs[name].append(timed(fit[name]))
    t_real = min(w for w, _ in epochs["real"])
    t_mem = min(w for w, _ in epochs["memory"])
    epoch_cpu = min(c for _, c in epochs["real"])
    wait = max(0.0, 1.0 - t_mem / t_real)
    cost = drain_seconds / t_real
    cpu_share = drain_cpu / epoch_cpu if epoch_cpu > 0 else 0.0
    print_fn(
        f"  delivered: tfconv {delivered['tfconv']:.0f} ex/s, naive {delivered['naive']:.0f} "
        f"ex/s (CPU per epoch {drain_cpu:.3f} s vs {cheapest['naive']:.3f} s); waiting for "
        f"input {100 * wait:.1f}% of an epoch; the pipeline alone costs {100 * cost:.1f}% of "
        f"an epoch's time, {100 * cpu_share:.1f}% of its CPU time"
    )
    return {
        "tfconv_examples_per_sec": delivered["tfconv"],
        "naive_examples_per_sec": delivered["naive"],
        "speedup": delivered["tfconv"] / delivered["naive"],
        "epoch_seconds_pipeline": t_real,
        "epoch_seconds_in_memory": t_mem,
        "input_wait_share": wait,
        "drain_seconds": drain_seconds,
        "drain_cpu_seconds": drain_cpu,
        "naive_drain_cpu_seconds": cheapest["naive"],
        "epoch_cpu_seconds": epoch_cpu,
        "pipeline_cost_share": cost,
        "pipeline_cpu_share": cpu_share,
        "repeats": repeats,
    }


# --------------------------------------------------------------------------
# 3. Roofline
# --------------------------------------------------------------------------


def matmul_peak(n: int = 1024, quick: bool = False) -> float:
    """The machine's measured float32 matmul FLOP/s (best of several runs)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))

    @tf.function
    def many(a, b):
        c = a
        for _ in range(8):
            c = tf.matmul(c, b) * 1e-3
        return c

    many(a, b).numpy()
    seconds = _best_time(lambda: many(a, b).numpy(), repeats=3 if quick else 7)
    return 8 * 2 * n**3 / seconds


# (batch, XLA, steps per execution, precision) tried for the best training
# throughput: the CPU's, and the GPU recipe (README) with its neighbours.
CPU_SETTINGS = ((256, False, 1, "float32"), (256, False, 8, "float32"),
                (512, False, 8, "float32"), (1024, False, 8, "float32"),
                (256, True, 8, "float32"))  # fmt: skip
GPU_SETTINGS = ((1024, True, 32, "mixed_float16"), (4096, True, 32, "mixed_float16"),
                (8192, True, 32, "mixed_float16"), (4096, True, 32, "float32"))  # fmt: skip


def training_throughput(
    variant: str = "lenet",
    layers: str = "tfconv",
    settings: tuple[tuple[int, bool, int, str], ...] | None = None,
    seconds: float = 3.0,
    data_dir: str | None = None,
    print_fn: PrintFn = _quiet,
    windows: int = 3,
) -> dict[str, Any]:
    """Training examples/sec of `variant` under several settings; the best wins.

    The data sits in memory as already-scaled batches, prefetched to the GPU
    when there is one, so that only the model's training step is timed:
    the question is how fast the layers can train, not the input pipeline
    (section 2). Each setting is compiled and warmed up first, then timed
    over `windows` whole calls of `fit` lasting about `seconds` in all, and
    the fastest window counts, as `timeit` keeps its fastest repeat: on a
    shared VM, whole seconds can run at half speed whatever the model.

    Args:
        variant: Model variant.
        layers: `"tfconv"` or `"keras"`.
        settings: `(batch, jit, steps_per_execution, precision)` tuples;
            default `GPU_SETTINGS` on a GPU, `CPU_SETTINGS` otherwise.
        seconds: Rough timed length of each setting.
        data_dir: Where the Fashion-MNIST files are.
        print_fn: One line per setting.
        windows: Timed calls of `fit` per setting.

    Returns:
        `settings` (one dict per setting, with `examples_per_sec`, the
        fastest window's, and `window_rates`, every window's) and `best`.
    """
    if isinstance(windows, bool) or not isinstance(windows, int) or windows < 1:
        raise ValueError(f"`windows` must be a positive int. Received: windows={windows!r}")
    import keras
    import numpy as np
    import tensorflow as tf

    from tfconv import data, models, train

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if settings is None:
        settings = GPU_SETTINGS if on_gpu else CPU_SETTINGS
    (x, y), _ = data.load("fashion_mnist", data_dir=data_dir)
    rows = []
    for batch, jit, spe, precision in settings:
        n = max(batch, (min(len(x), 16 * batch) // batch) * batch)
        images = np.resize(x, (n, *x.shape[1:]))[..., None].astype(np.float32) / 255.0
        labels = np.resize(y, n).astype(np.int32)
        ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().repeat()
        if on_gpu:
            ds = ds.apply(tf.data.experimental.prefetch_to_device("/GPU:0"))
        keras.backend.clear_session()
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(precision)
        try:
            keras.utils.set_random_seed(0)
            model = models.build(variant, layers=layers)
            train.compile_model(
                model,
                train.make_optimizer("sgd", 0.01),
                metrics=False,
                jit_compile=jit,
                steps_per_execution=spe,
            )
            steps = spe * 2
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)  # compiles
            start = time.perf_counter()
            model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
            per_step = (time.perf_counter() - start) / steps
            steps = spe * max(1, round(seconds / windows / per_step / spe))
            window_rates = []
            for _ in range(windows):
                start = time.perf_counter()
                model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
                window_rates.append(steps * batch / (time.perf_counter() - start))
            rate = max(window_rates)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        rows.append(
            {
                "batch_size": batch,
                "jit": jit,
                "steps_per_execution": spe,
                "precision": precision,
                "examples_per_sec": rate,
                "window_rates": window_rates,
            }
        )
        print_fn(
            f"  {layers} {variant}: batch {batch:5d}, XLA {'on ' if jit else 'off'}, "
            f"{spe:2d} steps/call, {precision}: {rate:9.0f} examples/sec"
        )
    best = max(rows, key=lambda r: r["examples_per_sec"])
    return {"variant": variant, "layers": layers, "settings": rows, "best": best}


def roofline(
    examples_per_sec: float,
    variant: str = "lenet",
    quick: bool = False,
    print_fn: PrintFn = _quiet,
) -> dict[str, Any]:
    """Achieved fraction of the measured matmul peak at a training throughput."""
    from tfconv import models

    peak = matmul_peak(quick=quick)
    flops = training_flops_per_example(models.build(variant))
    achieved = examples_per_sec * flops["training"]
    print_fn(
        f"  matmul peak {peak / 1e9:.1f} GFLOP/s; {variant} {flops['training'] / 1e6:.2f} "
        f"MFLOP per training example; achieved {achieved / 1e9:.1f} GFLOP/s "
        f"= {100 * achieved / peak:.1f}% of peak"
    )
    return {
        "matmul_peak_flops": peak,
        "flops_per_example_forward": flops["forward"],
        "flops_per_example_training": flops["training"],
        "examples_per_sec": examples_per_sec,
        "achieved_flops": achieved,
        "fraction_of_peak": achieved / peak,
    }


# --------------------------------------------------------------------------
# 4. Time to accuracy
# --------------------------------------------------------------------------


def time_to_accuracy(
    target: float,
    config: Any,
    max_epochs: int | None = None,
    print_fn: PrintFn = _quiet,
) -> dict[str, Any]:
    """Wall seconds from the start of `train` until test accuracy reaches `target`.

    Compilation and data loading count. The run stops at the first epoch
    whose test accuracy reaches the target, or at the end of the recipe.

    Args:
        target: Test accuracy to reach.
        config: A `tfconv.train.TrainConfig`; its epochs (or its variant's
            recipe's) set the run's length, and with it a cosine schedule's.
        max_epochs: Overrides the run's length (the suite's quick mode).
        print_fn: Receives one summary line.
    """
    import dataclasses

    import keras

    from tfconv import train

    class StopAtTarget(keras.callbacks.Callback):
        reached_at: float | None = None
        epoch: int | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if (logs or {}).get("val_accuracy", 0.0) >= target and self.reached_at is None:
                self.reached_at = time.perf_counter()
                self.epoch = epoch + 1
                self.model.stop_training = True

    stopper = StopAtTarget()
    # Resolved, so the printed line and the report name the recipe actually run.
    cfg = dataclasses.replace(config, epochs=max_epochs or config.epochs, verbose=0).resolved()
    start = time.perf_counter()
    result = train.train(cfg, print_fn=_quiet, extra_callbacks=[stopper])
    seconds = (stopper.reached_at or time.perf_counter()) - start
    best = max(row["test_acc"] for row in result.history)
    print_fn(
        f"  {cfg.variant} ({cfg.optimizer}, lr {cfg.lr}, batch {cfg.batch_size}): "
        + (
            f"{target:.2f} reached in {seconds:.1f} s (epoch {stopper.epoch})"
            if stopper.reached_at
            else f"{target:.2f} not reached in {cfg.epochs} epochs (best {best:.3f})"
        )
    )
    return {
        "target": target,
        "reached": stopper.reached_at is not None,
        "seconds": seconds if stopper.reached_at else None,
        "epochs": stopper.epoch,
        "best_test_acc": best,
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if v is not None},
    }


# --------------------------------------------------------------------------
# 6. Ops
# --------------------------------------------------------------------------


def _load_oracle() -> Any:
    """The tests' plain NumPy loop implementation, from a source checkout."""
    import importlib.util

    import tfconv

    path = Path(tfconv.__file__).resolve().parents[1] / "tests" / "oracle.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("tfconv_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ops_vs_loop(quick: bool = False, print_fn: PrintFn = _quiet) -> list[dict[str, Any]]:
    """Vectorised `corr2d` / `pool2d` vs the plain-loop reference implementation."""
    import numpy as np

    from tfconv import ops

    reference = _load_oracle()
    if reference is None:
        print_fn("  skipped: the plain-loop oracle (tests/oracle.py) needs a source checkout")
        return []
    rows = []
    rng = np.random.default_rng(0)
    sizes = (28,) if quick else (28, 224)
    for n in sizes:
        x = rng.random((n, n), dtype=np.float32)
        k = rng.random((3, 3), dtype=np.float32)
        for name, vec, loop in (
            (
                "corr2d 3x3",
                lambda x=x, k=k: ops.corr2d(x, k).numpy(),
                lambda x=x, k=k: reference.corr2d(x, k),
            ),
            (
                "pool2d max 2x2",
                lambda x=x: ops.pool2d(x, 2, "max").numpy(),
                lambda x=x: reference.pool2d(x, 2, "max"),
            ),
        ):
            vec()
            t_vec = _best_time(vec, repeats=3, number=3)
            t_loop = _best_time(loop, repeats=1)
            rows.append(
                {
                    "op": name,
                    "size": n,
                    "vectorised_ms": 1e3 * t_vec,
                    "loop_ms": 1e3 * t_loop,
                    "speedup": t_loop / t_vec,
                }
            )
            print_fn(f"  {name:15s} {n}x{n}: {t_loop / t_vec:.2f}x the speed of the loop")
    return rows


# --------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------


def run_suite(
    out: str | Path,
    quick: bool = False,
    data_dir: str | None = None,
    print_fn: PrintFn = print,
    only: str | None = None,
) -> dict[str, Any]:
    """Runs every section and writes `bench.json` and `bench.md` to `out`.

    `quick` shrinks every section (a slice of the data, low accuracy targets,
    fewer repeats) so that the whole suite checks in CI that each benchmark
    produces numbers, in well under 3 minutes; its numbers mean little.
    `only="zoo"` runs the layer zoo alone.
    """
    from tfconv import train

    limit = 4096 if quick else None
    results: dict[str, Any] = {
        "quick": quick,
        "device": runtime.describe_device(),
        "versions": runtime.package_versions(),
        "machine": platform.machine(),
    }
    if only is not None:
        if only != "zoo":
            raise ValueError(f"`only` must be None or 'zoo'. Received: only={only!r}")
        results["only"] = only
        print_fn("1b. layer zoo: training steps, tfconv vs Keras layers")
        results["zoo"] = zoo_section(quick=quick, print_fn=print_fn)
        _write_results(out, results)
        return results
    print_fn("1. layers: LeNet training, tfconv vs Keras layers")
    results["layers_training"] = layers_training(
        epochs=1 if quick else 5, limit_train=limit, data_dir=data_dir, print_fn=print_fn
    )
    one = layers_training_single_thread(
        epochs=1 if quick else 3, limit_train=limit, data_dir=data_dir
    )
    results["layers_training_single_thread"] = one
    print_fn(
        f"  one thread, CPU time: tfconv {one['tfconv_examples_per_sec']:.0f}, keras "
        f"{one['keras_examples_per_sec']:.0f} examples per CPU-second, ratio {one['ratio']:.2f}"
    )
    print_fn("   layer microbenchmarks")
    results["layer_micro"] = layer_micro(quick=quick, print_fn=print_fn)
    print_fn("1b. layer zoo: training steps, tfconv vs Keras layers")
    results["zoo"] = zoo_section(quick=quick, print_fn=print_fn)
    print_fn("2. input pipeline")
    results["pipeline"] = pipeline(limit_train=limit, data_dir=data_dir, print_fn=print_fn)
    print_fn("3. roofline")
    results["throughput"] = {
        layers: training_throughput(
            layers=layers,
            settings=CPU_SETTINGS[:1] if quick else None,
            seconds=0.5 if quick else 4.0,
            data_dir=data_dir,
            print_fn=print_fn,
        )
        for layers in ("tfconv", "keras")
    }
    results["roofline"] = roofline(
        max(
            results["throughput"]["tfconv"]["best"]["examples_per_sec"],
            results["layers_training"]["tfconv_examples_per_sec"],
        ),
        quick=quick,
        print_fn=print_fn,
    )
    print_fn("4. time to accuracy")
    results["time_to_accuracy"] = [
        time_to_accuracy(
            0.5 if quick else target,
            train.TrainConfig(
                variant=variant,
                data_dir=data_dir,
                limit_train=limit,
                limit_test=1000 if quick else None,
                **kwargs,
            ),
            max_epochs=2 if quick else None,
            print_fn=print_fn,
        )
        for target, variant, kwargs in FAST_RECIPES
    ]
    print_fn("5. inference")
    results["inference"] = inference(quick=quick, data_dir=data_dir, print_fn=print_fn)
    print_fn("6. ops vs the plain loop")
    results["ops"] = ops_vs_loop(quick=quick, print_fn=print_fn)

    _write_results(out, results)
    return results


def _write_results(out: str | Path, results: dict[str, Any]) -> None:

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fileio.write_json_atomic(out / "bench.json", results)
    fileio.write_text_atomic(out / "bench.md", to_markdown(results))


# (target, variant, TrainConfig overrides): the fastest recipe found, and the book's.
# The book's learning rate is constant, so letting it run past its 10 epochs
# leaves those epochs as they were; measured here, seed 0 sits at 0.816 after
# ten and its test accuracy still swings by points from epoch to epoch.
FAST_RECIPES: tuple[tuple[float, str, dict[str, Any]], ...] = (
    (0.90, "lenet_fast", {}),
    (0.82, "lenet", {"epochs": 20}),
)


def inference(
    quick: bool = False, data_dir: str | None = None, print_fn: PrintFn = _quiet
) -> dict[str, Any]:
    """Single-image latency and batch throughput of every way to run a LeNet.

    Keras `predict` (and `predict_on_batch`), the SavedModel, and TFLite
    float32 and int8 through LiteRT on one thread, all on the same Fashion-MNIST
    test images (uint8 pixels in, probabilities out). Keras and the SavedModel
    run on TensorFlow's own thread pool, which cannot be narrowed after start.
    """
    import tempfile

    import numpy as np

    from tfconv import data, export

    model = _compiled_model("lenet", "tfconv", jit=False)
    # int8 calibration wants a trained model: one epoch on 2048 images left the
    # sigmoid LeNet predicting one class, a whole epoch takes it past 60%.
    pipes = data.pipelines(
        "fashion_mnist", 256, data_dir=data_dir, limit_train=2048 if quick else None
    )
    model.fit(pipes.train, epochs=1, verbose=0)
    _, (x_test, _) = data.load("fashion_mnist", data_dir=data_dir)
    batch = x_test[:256]
    one = x_test[:1]
    scaled_one = one[..., None].astype(np.float32) / 255.0
    scaled_batch = batch[..., None].astype(np.float32) / 255.0
    repeats = 20 if quick else 200
    results: dict[str, Any] = {}

    def record(name: str, latency: float, many: Callable[[], Any]) -> None:
        per_batch = _best_time(many, repeats=3, number=3 if quick else 10)
        results[name] = {"latency_ms": latency, "batch_examples_per_sec": len(batch) / per_batch}
        print_fn(
            f"  {name:16s} one image {latency:7.3f} ms, batch of 256 "
            f"{len(batch) / per_batch:9.0f} images/sec"
        )

    record(
        "keras_predict",
        export.latency_ms(lambda: model.predict(scaled_one, verbose=0), repeats),
        lambda: model.predict(scaled_batch, batch_size=256, verbose=0),
    )
    record(
        "keras_on_batch",
        export.latency_ms(lambda: model.predict_on_batch(scaled_one), repeats),
        lambda: model.predict_on_batch(scaled_batch),
    )
    with tempfile.TemporaryDirectory() as tmp:
        export.export_model(
            model, tmp, formats="all", quantize="none,int8", dataset="fashion_mnist",
            data_dir=data_dir, verify=False, print_fn=_quiet,
        )  # fmt: skip
        saved = export.SavedModelRunner(Path(tmp) / export.SAVEDMODEL_DIR)
        record("savedmodel", export.latency_ms(lambda: saved(one), repeats), lambda: saved(batch))
        runners = {
            name: export.TFLiteRunner(Path(tmp) / export.tflite_name(quantize), num_threads=1)
            for name, quantize in (("tflite_float32", "none"), ("tflite_int8", "int8"))
        }
        # The two files differ by a few microseconds, so they are timed in
        # turns, not one after the other.
        latencies = export.interleaved_latency_ms(
            {name: (lambda r=runner: r(one)) for name, runner in runners.items()}, repeats
        )
        for name, runner in runners.items():
            record(name, latencies[name], lambda r=runner: r(batch))
    return results


def to_markdown(results: dict[str, Any]) -> str:
    """The suite's results as Markdown tables."""
    lines = [f"# tfconv bench ({results['device']}{', quick' if results['quick'] else ''})", ""]
    if results.get("only") == "zoo":
        return "\n".join(lines + zoo_markdown(results["zoo"])) + "\n"
    lt = results["layers_training"]
    st = results["layers_training_single_thread"]
    lines += [
        "## 1. LeNet training: tfconv layers vs Keras layers",
        "",
        "| layers | examples/sec, 2 threads (median epoch) | examples per CPU-second, 1 thread |",
        "|---|---|---|",
        f"| tfconv | {lt['tfconv_examples_per_sec']:.0f} | {st['tfconv_examples_per_sec']:.0f} |",
        f"| keras | {lt['keras_examples_per_sec']:.0f} | {st['keras_examples_per_sec']:.0f} |",
        f"| ratio | {lt['ratio']:.2f} | {st['ratio']:.2f} |",
        "",
        "Wall-clock epochs can swing between two speeds: on this project's 2-core VM, "
        "in the slow mode every training step waited about 10 ms more, whatever the "
        "model (both at 11.7k examples/sec, the process using 0.9 of a core instead "
        "of 1.6). The one-thread CPU-time ratio is the steady one. Epochs, wall clock: "
        + ", ".join(
            f"{name} " + "/".join(f"{v:.0f}" for v in lt["samples"][name])
            for name in ("tfconv", "keras")
        )
        + ".",
        "",
        "| layer | input | tfconv fwd ms | keras fwd ms | tfconv fwd+bwd ms | keras fwd+bwd ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["layer_micro"]:
        lines.append(
            f"| {r['layer']} | {r['input']} | {r['tfconv_fwd_ms']:.2f} | {r['keras_fwd_ms']:.2f} "
            f"| {r['tfconv_fwd_bwd_ms']:.2f} | {r['keras_fwd_bwd_ms']:.2f} |"
        )
    if "zoo" in results:
        lines += ["", *zoo_markdown(results["zoo"])]
    p = results["pipeline"]
    rf = results["roofline"]
    lines += [
        "",
        "## 2. Input pipeline",
        "",
        "| measure | value |",
        "|---|---|",
        f"| delivered, tfconv pipeline | {p['tfconv_examples_per_sec']:.0f} ex/s |",
        f"| delivered, naive loader | {p['naive_examples_per_sec']:.0f} ex/s |",
        f"| speedup | x{p['speedup']:.2f} |",
        f"| CPU per epoch, tfconv vs naive | {p['drain_cpu_seconds']:.3f} s vs "
        f"{p['naive_drain_cpu_seconds']:.3f} s |",
        f"| waiting for input (indirect) | {100 * p['input_wait_share']:.1f}% of an epoch |",
        f"| pipeline alone (direct) | {100 * p['pipeline_cost_share']:.1f}% of an epoch's time, "
        f"{100 * p['pipeline_cpu_share']:.1f}% of its CPU |",
        "",
        "## 3. Roofline",
        "",
        f"Matmul peak {rf['matmul_peak_flops'] / 1e9:.1f} GFLOP/s; "
        f"{rf['flops_per_example_training'] / 1e6:.2f} MFLOP per training example. "
        "LeNet training throughput, data in memory:",
        "",
        "| layers | batch | XLA | steps/call | precision | examples/sec | % of matmul peak |",
        "|---|---|---|---|---|---|---|",
    ]
    for layers, sweep in results.get("throughput", {}).items():
        for r in sweep["settings"]:
            share = r["examples_per_sec"] * rf["flops_per_example_training"]
            lines.append(
                f"| {layers} | {r['batch_size']} | {'on' if r['jit'] else 'off'} "
                f"| {r['steps_per_execution']} | {r['precision']} | {r['examples_per_sec']:.0f} "
                f"| {100 * share / rf['matmul_peak_flops']:.1f} |"
            )
    lines += [
        "",
        f"Best (tfconv layers): {rf['examples_per_sec']:.0f} examples/sec, "
        f"{rf['achieved_flops'] / 1e9:.1f} GFLOP/s = {100 * rf['fraction_of_peak']:.1f}% of peak.",
        "",
        "## 4. Time to accuracy",
        "",
        "| variant | target | seconds | epochs | best test acc |",
        "|---|---|---|---|---|",
    ]
    for t in results["time_to_accuracy"]:
        secs = f"{t['seconds']:.1f}" if t["seconds"] is not None else "not reached"
        lines.append(
            f"| {t['config']['variant']} | {t['target']:.2f} | {secs} | {t['epochs']} "
            f"| {t['best_test_acc']:.3f} |"
        )
    lines += ["", "## 5. Inference (LeNet; TFLite on one thread)", ""]
    lines += ["| runtime | one image ms | batch-256 images/sec |", "|---|---|---|"]
    for name, r in results["inference"].items():
        lines.append(f"| {name} | {r['latency_ms']:.3f} | {r['batch_examples_per_sec']:.0f} |")
    lines += ["", "## 6. Ops vs plain loop", "", "| op | size | vectorised ms | loop ms |"]
    lines += ["|---|---|---|---|"]
    for r in results["ops"]:
        lines.append(
            f"| {r['op']} | {r['size']} | {r['vectorised_ms']:.2f} | {r['loop_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"
