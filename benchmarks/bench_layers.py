"""LeNet training throughput: tfconv's layers vs Keras's, interleaved in one run.

    python benchmarks/bench_layers.py [--epochs 3] [--jit] [--batch-size 256] [--single-thread-cpu]

Both models train on the same cached Fashion-MNIST pipeline with the same
batch size, precision and XLA setting; epochs alternate between the two so
that machine noise hits both alike. Prints examples/sec per epoch and the
ratio of the medians (epoch 1, which pays for tracing, is left out).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per model")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--variant", default="lenet")
    parser.add_argument("--jit", action="store_true", help="XLA for both models")
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--single-thread-cpu",
        action="store_true",
        help="one TensorFlow thread, timed by CPU time (steady on a shared machine)",
    )
    args = parser.parse_args(argv)
    from tfconv.bench import layers_training, layers_training_single_thread

    kwargs = dict(
        variant=args.variant,
        batch_size=args.batch_size,
        epochs=args.epochs,
        jit=args.jit,
        limit_train=args.limit_train,
        data_dir=args.data_dir,
    )
    if args.single_thread_cpu:
        result = layers_training_single_thread(**kwargs)
    else:
        result = layers_training(print_fn=print, **kwargs)
    unit = "examples per CPU-second" if args.single_thread_cpu else "examples/sec"
    print(
        f"median {unit}: tfconv {result['tfconv_examples_per_sec']:.0f}, "
        f"keras {result['keras_examples_per_sec']:.0f}, "
        f"ratio {result['ratio']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
