"""Per-layer cost of tfconv's layers vs Keras's, in single-thread CPU milliseconds.

    python benchmarks/profile_layers.py [--batch 256] [--xla-core/--no-xla-core]

CPU time of one thread (TensorFlow pinned to one intra- and one inter-op
thread) is far steadier than wall time on a shared machine, so this is the
tool for "where does the time go": forward, and forward plus backward, of
LeNet's two convolutions and pools and of lenet_modern's 3x3 convolutions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--xla-core", action=argparse.BooleanOptionalAction, default=True,
        help="XLA-compile tfconv's conv core (TFCONV_XLA_CORE)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    os.environ["TFCONV_XLA_CORE"] = "1" if args.xla_core else "0"

    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tfconv.layers as tl

    def cpu_ms(fn, x) -> float:
        fn(x)
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for _ in range(args.repeats):
                out = fn(x)
            [np.asarray(v) for v in tf.nest.flatten(out)]
            best = min(best, (time.process_time() - start) / args.repeats * 1e3)
        return best

    def with_grad(layer, input_grad: bool):
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(layer(x)))
            return tape.gradient(loss, ([x] if input_grad else []) + layer.trainable_variables)

        return step

    b = args.batch
    cases = [
        ("LeNet conv1 5x5 1->6", (b, 28, 28, 1), lambda m: m.Conv2D(6, 5, padding="same")),
        ("LeNet pool1 avg 2x2", (b, 28, 28, 6), lambda m: m.AveragePooling2D(2)),
        ("LeNet conv2 5x5 6->16", (b, 14, 14, 6), lambda m: m.Conv2D(16, 5)),
        ("LeNet pool2 avg 2x2", (b, 10, 10, 16), lambda m: m.AveragePooling2D(2)),
        ("modern conv1 3x3 1->16", (b, 28, 28, 1), lambda m: m.Conv2D(16, 3, padding="same")),
        ("modern conv2 3x3 16->32", (b, 14, 14, 16), lambda m: m.Conv2D(32, 3, padding="same")),
        ("modern conv3 3x3 32->64", (b, 7, 7, 32), lambda m: m.Conv2D(64, 3, padding="same")),
        ("modern pool max 2x2", (b, 28, 28, 16), lambda m: m.MaxPooling2D(2)),
    ]
    print(f"{'layer':26s} {'fwd tfconv':>10s} {'fwd keras':>10s} {'f+b tfconv':>10s} "
          f"{'f+b keras':>10s}  ms of one CPU thread, batch {b}")  # fmt: skip
    for name, shape, make in cases:
        x = tf.random.normal(shape)
        mine, theirs = make(tl), make(keras.layers)
        mine(x), theirs(x)
        theirs.set_weights(mine.get_weights())
        input_grad = shape[-1] > 1  # the first layer's input gradient is never needed
        row = [
            cpu_ms(tf.function(lambda x, m=mine: m(x)), x),
            cpu_ms(tf.function(lambda x, m=theirs: m(x)), x),
            cpu_ms(with_grad(mine, input_grad), x),
            cpu_ms(with_grad(theirs, input_grad), x),
        ]
        print(f"{name:26s} " + " ".join(f"{v:10.2f}" for v in row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
