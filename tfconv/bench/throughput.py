"""Section 3: the measured matmul peak, training throughput sweeps, and the roofline."""

from __future__ import annotations

import time
from typing import Any

from tfconv.bench.timing import PrintFn, best_time, quiet
from tfconv.models.cost import training_flops_per_example

Setting = tuple[int, bool, int, str]

# (batch, XLA, steps per execution, precision) tried for the best training
# throughput: the CPU's, and the GPU recipe (README) with its neighbours.
CPU_SETTINGS = ((256, False, 1, "float32"), (256, False, 8, "float32"),
                (512, False, 8, "float32"), (1024, False, 8, "float32"),
                (256, True, 8, "float32"))  # fmt: skip
GPU_SETTINGS = ((1024, True, 32, "mixed_float16"), (4096, True, 32, "mixed_float16"),
                (8192, True, 32, "mixed_float16"), (4096, True, 32, "float32"))  # fmt: skip


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
    seconds = best_time(lambda: many(a, b).numpy(), repeats=3 if quick else 7)
    return 8 * 2 * n**3 / seconds


def training_throughput(
    variant: str = "lenet",
    layers: str = "tfconv",
    settings: tuple[Setting, ...] | None = None,
    seconds: float = 3.0,
    data_dir: str | None = None,
    print_fn: PrintFn = quiet,
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
    import tensorflow as tf

    from tfconv import data

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if settings is None:
        settings = GPU_SETTINGS if on_gpu else CPU_SETTINGS
    (x, y), _ = data.load("fashion_mnist", data_dir=data_dir)
    rows = []
    for setting in settings:
        ds = _in_memory_batches(x, y, setting[0], on_gpu)
        window_rates = _setting_rates(variant, layers, setting, ds, seconds, windows)
        rows.append(_setting_row(setting, window_rates))
        batch, jit, spe, precision = setting
        print_fn(
            f"  {layers} {variant}: batch {batch:5d}, XLA {'on ' if jit else 'off'}, "
            f"{spe:2d} steps/call, {precision}: {max(window_rates):9.0f} examples/sec"
        )
    best = max(rows, key=lambda r: r["examples_per_sec"])
    return {"variant": variant, "layers": layers, "settings": rows, "best": best}


def _in_memory_batches(x: Any, y: Any, batch: int, on_gpu: bool) -> Any:
    """Up to 16 scaled batches of `x`, `y` cached and repeated (prefetched to a GPU)."""
    import numpy as np
    import tensorflow as tf

    from tfconv.layers.pixel_scaling import scale_pixels

    n = max(batch, (min(len(x), 16 * batch) // batch) * batch)
    images = scale_pixels(np.resize(x, (n, *x.shape[1:]))[..., None]).numpy()
    labels = np.resize(y, n).astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().repeat()
    if on_gpu:
        ds = ds.apply(tf.data.experimental.prefetch_to_device("/GPU:0"))
    return ds


def _setting_rates(
    variant: str, layers: str, setting: Setting, ds: Any, seconds: float, windows: int
) -> list[float]:
    """Examples/sec of each timed window of one setting, under its precision policy."""
    import keras

    batch, jit, spe, precision = setting
    keras.backend.clear_session()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = _compiled_for(variant, layers, jit, spe)
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
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return window_rates


def _compiled_for(variant: str, layers: str, jit: bool, steps_per_execution: int) -> Any:
    """A seeded `variant` compiled with plain SGD and no metrics (the step alone)."""
    import keras

    from tfconv import models, train

    keras.utils.set_random_seed(0)
    model = models.build(variant, layers=layers)
    return train.compile_model(
        model,
        train.make_optimizer("sgd", 0.01),
        metrics=False,
        jit_compile=jit,
        steps_per_execution=steps_per_execution,
    )


def _setting_row(setting: Setting, window_rates: list[float]) -> dict[str, Any]:
    batch, jit, spe, precision = setting
    return {
        "batch_size": batch,
        "jit": jit,
        "steps_per_execution": spe,
        "precision": precision,
        "examples_per_sec": max(window_rates),
        "window_rates": window_rates,
    }


def roofline(
    examples_per_sec: float,
    variant: str = "lenet",
    quick: bool = False,
    print_fn: PrintFn = quiet,
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
