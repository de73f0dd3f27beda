"""Where a training step's time goes: per-op totals from a `tf.profiler` trace.

    python benchmarks/profile_step.py [--layers tfconv|keras] [--variant lenet]
                                      [--batch 256] [--steps 20] [--threads 1]

Trains `--steps` batches of random images with `model.fit` under
`tf.profiler`, then sums the trace's op events by kind (TensorFlow kernels by
op type, XLA fusions by name) and prints milliseconds per step and shares.
One thread (the default) keeps the numbers steady on a shared machine. The
trace stays in `--logdir` for TensorBoard's profile plugin.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def op_totals(logdir: str, steps: int) -> collections.Counter:
    """Milliseconds per step of each op kind in the newest trace under `logdir`."""
    # The trace is an XSpace protobuf; TensorFlow ships its schema (TensorBoard's
    # profile plugin, which would read it for us, is not a dependency).
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(os.path.join(logdir, "plugins/profile/*/*.xplane.pb")))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    totals: collections.Counter = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name.startswith("Executor") or "::" in name:
                    continue  # the executor's own bookkeeping, not an op
                kind = name.split(":")[-1] if ":" in name else f"XLA {name}"
                totals[kind] += event.duration_ps / 1e9 / steps
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="tfconv", choices=("tfconv", "keras"))
    parser.add_argument("--variant", default="lenet")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (0: default)")
    parser.add_argument("--top", type=int, default=16)
    parser.add_argument("--logdir", default=None, help="keep the trace here")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from tfconv.bench import _compiled_model

    model = _compiled_model(args.variant, args.layers, jit=False)
    rng = np.random.default_rng(0)
    n = args.batch * args.steps
    x = rng.random((n, *model.input_shape[1:]), dtype=np.float32)
    y = rng.integers(0, 10, n)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch).cache()
    model.fit(ds, epochs=1, verbose=0)  # traces and warms up
    start = time.process_time()
    model.fit(ds, epochs=1, verbose=0)
    step_ms = (time.process_time() - start) / args.steps * 1e3
    logdir = args.logdir or tempfile.mkdtemp(prefix="tfconv_profile_")
    tf.profiler.experimental.start(logdir)
    model.fit(ds, epochs=1, verbose=0)
    tf.profiler.experimental.stop()

    totals = op_totals(logdir, args.steps)
    total = sum(totals.values())
    print(
        f"{args.layers} {args.variant}, batch {args.batch}: {step_ms:.2f} CPU ms per step "
        f"(unprofiled), ops {total:.2f} ms per step (profiled); trace in {logdir}"
    )
    for kind, ms in totals.most_common(args.top):
        print(f"  {ms:7.2f} ms {100 * ms / total:5.1f}%  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
