"""Section 2: tfconv's `tf.data` pipeline vs a naive one, and what input costs training."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tfconv.bench.timing import PrintFn, compiled_model, quiet

# Drains are cheap, so every pipeline is drained this many times.
_DRAINS = 7


def naive_pipeline(x: Any, y: Any, batch_size: int, seed: int = 0) -> Any:
    """The book's loader, as tf.data: batch before shuffle, rescale every epoch, no cache."""
    import tensorflow as tf

    from tfconv.layers.pixel_scaling import scale_pixels

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    ds = ds.shuffle(len(x) // batch_size + 1, seed=seed)
    return ds.map(lambda a, b: (scale_pixels(a[..., None]), tf.cast(b, tf.int32)))


def pipeline(
    batch_size: int = 256,
    limit_train: int | None = None,
    data_dir: str | None = None,
    variant: str = "lenet",
    print_fn: PrintFn = quiet,
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
    sources = {"tfconv": pipes.train, "naive": naive_pipeline(x, y, batch_size)}
    drains = _interleaved_drains(sources)
    fastest = {k: min(w for w, _ in v) for k, v in drains.items()}
    cheapest = {k: min(c for _, c in v) for k, v in drains.items()}
    delivered = {k: len(x) / t for k, t in fastest.items()}
    epochs = _interleaved_epochs(pipes, variant, repeats)
    result = _summary(delivered, fastest, cheapest, epochs, repeats)
    _print_summary(result, print_fn)
    return result


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and process CPU seconds of one call of `fn`."""
    # Process CPU time counts tf.data's and TensorFlow's threads too, and
    # unlike wall time it barely moves when other jobs share the cores.
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def _drain(ds: Any) -> None:
    for _ in ds:
        pass


def _interleaved_drains(sources: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """`_timed` drains of one epoch of each pipeline, in alternating order."""
    for ds in sources.values():
        _drain(ds)  # warms up, as the first training epoch does
    names = list(sources)
    drains: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
    for i in range(_DRAINS):
        # Alternating the order cancels a slow drift of the machine's load.
        for name in names if i % 2 == 0 else names[::-1]:
            drains[name].append(_timed(lambda ds=sources[name]: _drain(ds)))
    return drains


def _interleaved_epochs(
    pipes: Any, variant: str, repeats: int
) -> dict[str, list[tuple[float, float]]]:
    """`_timed` training epochs fed by the pipeline ("real") and by a cache of its batches."""
    model = compiled_model(variant, "tfconv", jit=False)
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
            epochs[name].append(_timed(fit[name]))
    return epochs


def _summary(
    delivered: dict[str, float],
    fastest: dict[str, float],
    cheapest: dict[str, float],
    epochs: dict[str, list[tuple[float, float]]],
    repeats: int,
) -> dict[str, Any]:
    """`pipeline`'s result from the drains and the training epochs."""
    drain_seconds, drain_cpu = fastest["tfconv"], cheapest["tfconv"]
    t_real = min(w for w, _ in epochs["real"])
    t_mem = min(w for w, _ in epochs["memory"])
    epoch_cpu = min(c for _, c in epochs["real"])
    return {
        "tfconv_examples_per_sec": delivered["tfconv"],
        "naive_examples_per_sec": delivered["naive"],
        "speedup": delivered["tfconv"] / delivered["naive"],
        "epoch_seconds_pipeline": t_real,
        "epoch_seconds_in_memory": t_mem,
        "input_wait_share": max(0.0, 1.0 - t_mem / t_real),
        "drain_seconds": drain_seconds,
        "drain_cpu_seconds": drain_cpu,
        "naive_drain_cpu_seconds": cheapest["naive"],
        "epoch_cpu_seconds": epoch_cpu,
        "pipeline_cost_share": drain_seconds / t_real,
        "pipeline_cpu_share": drain_cpu / epoch_cpu if epoch_cpu > 0 else 0.0,
        "repeats": repeats,
    }


def _print_summary(r: dict[str, Any], print_fn: PrintFn) -> None:
    print_fn(
        f"  delivered: tfconv {r['tfconv_examples_per_sec']:.0f} ex/s, naive "
        f"{r['naive_examples_per_sec']:.0f} ex/s (CPU per epoch {r['drain_cpu_seconds']:.3f} s "
        f"vs {r['naive_drain_cpu_seconds']:.3f} s); waiting for input "
        f"{100 * r['input_wait_share']:.1f}% of an epoch; the pipeline alone costs "
        f"{100 * r['pipeline_cost_share']:.1f}% of an epoch's time, "
        f"{100 * r['pipeline_cpu_share']:.1f}% of its CPU time"
    )
