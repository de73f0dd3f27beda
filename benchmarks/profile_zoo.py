"""The zoo's convolutions one by one: tfconv's im2col vs Winograd vs Keras, one-thread CPU ms.

    python benchmarks/profile_zoo.py [--repeats 3] [--number 5] [--only NAME] [--trace]

Times forward, and forward plus backward (input gradient included unless the
layer is a model's first), of each 3x3 conv shape in `tfconv bench`'s layer
zoo with tfconv's layers on the im2col path (`TFCONV_WINOGRAD=0`'s) and on
the Winograd F(2x2, 3x3) path, against Keras's layer with the same weights.
TensorFlow is pinned to one thread and timed by process CPU time, the steady
measure on a shared machine. The path is chosen when a layer is traced, so
each contender is a separate layer traced under its own setting. `--trace`
also prints, per shape and path, the per-op totals of tfconv's
forward+backward from a `tf.profiler` trace (`profile_step.op_totals`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# (name, input NHWC, filters, padding, input gradient)
SHAPES = (
    ("mnist conv2", (128, 26 // 2, 26 // 2, 32), 64, "valid", True),
    ("vgg conv1b", (64, 32, 32, 64), 64, "same", True),
    ("vgg conv2", (64, 16, 16, 64), 128, "same", True),
    ("resnet 64", (64, 32, 32, 64), 64, "same", True),
    ("resnet 128", (64, 16, 16, 128), 128, "same", True),
    ("56x56x64", (16, 56, 56, 64), 64, "same", True),
    ("c32 32x32", (64, 32, 32, 32), 32, "same", True),
    ("c16 32x32", (64, 32, 32, 16), 32, "same", True),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--number", type=int, default=5)
    parser.add_argument("--only", default=None, help="run the shapes whose name contains this")
    parser.add_argument("--trace", action="store_true", help="per-op totals of tfconv's f+b")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tfconv.layers as tl
    from tfconv import bench
    from tfconv._core import switches

    print(f"{'shape':12s} {'path':9s} {'fwd':>8s} {'keras':>8s} {'f+b':>8s} {'keras':>8s}"
          "  ms of one CPU thread")  # fmt: skip
    rng = np.random.default_rng(0)
    for name, shape, filters, padding, input_grad in SHAPES:
        if args.only and args.only not in name:
            continue
        x = tf.constant(rng.standard_normal(shape, dtype=np.float32))
        theirs = keras.layers.Conv2D(filters, 3, padding=padding)
        theirs(x)
        for path, winograd in (("im2col", False), ("winograd", True)):
            switches.WINOGRAD = winograd
            mine = tl.Conv2D(filters, 3, padding=padding)
            mine(x)
            mine.set_weights(theirs.get_weights())
            t = bench.layer_timings(
                mine, theirs, x, args.repeats, args.number, input_grad, clock=time.process_time
            )
            print(
                f"{name:12s} {path:9s} {t['tfconv_fwd_ms']:8.2f} {t['keras_fwd_ms']:8.2f} "
                f"{t['tfconv_fwd_bwd_ms']:8.2f} {t['keras_fwd_bwd_ms']:8.2f}",
                flush=True,
            )
            if args.trace:
                _print_trace(mine, x, input_grad)
    return 0


def _print_trace(layer, x, input_grad: bool, steps: int = 5, top: int = 8) -> None:
    """Per-op milliseconds of `layer`'s forward+backward, from a `tf.profiler` trace."""
    import tempfile

    import tensorflow as tf

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from profile_step import op_totals

    @tf.function
    def fwd_bwd(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, ([x] if input_grad else []) + layer.trainable_variables)

    fwd_bwd(x)
    logdir = tempfile.mkdtemp(prefix="tfconv_profile_zoo_")
    tf.profiler.experimental.start(logdir)
    for _ in range(steps):
        [g.numpy() for g in fwd_bwd(x)]
    tf.profiler.experimental.stop()
    for kind, ms in op_totals(logdir, steps).most_common(top):
        print(f"    {ms:8.2f} ms  {kind}")


if __name__ == "__main__":
    sys.exit(main())
