"""Export benchmark: size, fidelity, accuracy and latency of every export format.

    python benchmarks/bench_export.py --run saved_models/lenet
    python benchmarks/bench_export.py --train --variant lenet --layers tfconv --epochs 10

Exports a run (an existing one, or one trained first with `--train`) to a
SavedModel and the four TFLite variants, checks each on the test set and
prints `tfconv export`'s report, then the comparisons the closing note wants:
int8 against float32 TFLite (test accuracy, size, latency) and TFLite's
single-thread latency against Keras's `predict` on one image. `--json` writes
all of it to a file. `benchmarks/profile_tflite.py` breaks a TFLite file's
latency down by op.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _keras_predict_ms(run: str, runs: int) -> float | None:
    """Median time of `model.predict` on one image, the way a script would call it."""
    import numpy as np

    from tfconv import export

    if runs < 1:
        return None
    model, _ = export.load_keras(run)
    model, _ = export.to_float32(model)
    one = np.zeros((1, *model.input_shape[1:]), np.float32)
    for _ in range(3):
        model.predict(one, verbose=0)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict(one, verbose=0)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="existing run folder (or .keras file)")
    parser.add_argument("--train", action="store_true", help="train a run first")
    parser.add_argument("--variant", default="lenet")
    parser.add_argument("--layers", choices=("tfconv", "keras"), default="tfconv")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--dataset", choices=("fashion_mnist", "mnist"), default="fashion_mnist")
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
        default="float32",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None, help="export folder (default: RUN/export)")
    parser.add_argument("--quantize", default="all", help="TFLite variants (default: all)")
    parser.add_argument("--limit-test", type=int, default=None, help="default: all 10000")
    parser.add_argument("--latency-runs", type=int, default=500)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if bool(args.run) == bool(args.train):
        parser.error("give exactly one of --run DIR and --train")

    from tfconv import export, train

    run = args.run
    if args.train:
        run = tempfile.mkdtemp(prefix="bench-export-")
        config = train.TrainConfig(
            dataset=args.dataset,
            variant=args.variant,
            layers=args.layers,
            epochs=args.epochs,
            precision=args.precision,
            data_dir=args.data_dir,
            limit_train=args.limit_train,
            verbose=2,
        )
        train.train(config, out=run)

    report = export.export_model(
        run,
        args.out,
        formats="all",
        quantize=args.quantize,
        dataset=None if args.run else args.dataset,
        data_dir=args.data_dir,
        limit_test=args.limit_test,
        latency_runs=args.latency_runs,
    )
    exports = report["exports"]
    summary: dict = {"report": report}
    float_, int8 = exports.get("tflite"), exports.get("tflite_int8")
    if float_ and int8:
        summary["int8_vs_float32"] = {
            "test_acc": [int8["test_acc"], float_["test_acc"]],
            "size_bytes": [int8["size_bytes"], float_["size_bytes"]],
            "latency_ms": [int8["latency_ms"], float_["latency_ms"]],
            "agreement": int8["agreement"],
        }
        print(
            f"int8 vs float32 TFLite: test acc {int8['test_acc']:.4f} vs "
            f"{float_['test_acc']:.4f} ({100 * (int8['test_acc'] - float_['test_acc']):+.2f} pt), "
            f"size {int8['size_bytes']:,} vs {float_['size_bytes']:,} bytes "
            f"({_ratio(int8['size_bytes'], float_['size_bytes'])}), latency "
            f"{int8['latency_ms']:.3f} vs {float_['latency_ms']:.3f} ms, "
            f"argmax agreement with Keras {int8['agreement']:.4f}"
        )
    predict_ms = _keras_predict_ms(run, min(args.latency_runs, 100))
    summary["keras_predict_ms"] = predict_ms
    if float_ and predict_ms:
        keras_step = report["keras"]["latency_ms"]
        print(
            f"one image: Keras predict {predict_ms:.2f} ms, Keras predict_on_batch "
            f"{keras_step:.3f} ms, TFLite float32 (1 thread) {float_['latency_ms']:.3f} ms "
            f"({_ratio(predict_ms, float_['latency_ms'])} faster than predict)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
