"""Test accuracy of the recipes, with tfconv's layers and with Keras's.

    python benchmarks/bench_accuracy.py [--data-dir DIR] [--out docs/accuracy.md]

Trains each (dataset, variant) with its recipe (`tfconv variants`) twice,
once per layer implementation, and writes a Markdown table of the final
test accuracy, the gap between the two, and the wall time. Each run is a
normal `tfconv train` run folder under `--runs`.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# (dataset, variant, target test accuracy from the issue)
RUNS = (
    ("fashion_mnist", "lenet", 0.82),
    ("fashion_mnist", "lenet_modern", 0.91),
    ("mnist", "lenet", 0.99),
    ("mnist", "lenet_modern", 0.99),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs", default="saved_models/accuracy", help="run folders")
    parser.add_argument("--out", default="docs/accuracy.md", help="Markdown table")
    parser.add_argument("--only", default=None, help="comma list of variants to run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from tfconv import train
    from tfconv.utils import fileio

    rows = []
    for dataset, variant, target in RUNS:
        if args.only and variant not in args.only.split(","):
            continue
        accs = {}
        for layers in ("tfconv", "keras"):
            out = os.path.join(args.runs, f"{dataset}-{variant}-{layers}")
            cfg = train.TrainConfig(
                dataset=dataset, variant=variant, layers=layers, seed=args.seed,
                data_dir=args.data_dir, verbose=0,
            )  # fmt: skip
            # A benchmark measures anew: its own folders are replaced, never reused.
            m = train.train(cfg, out=out, print_fn=lambda _: None, overwrite=True).metrics
            accs[layers] = m["test_acc"]
            line = (
                f"| {dataset} | {variant} | {layers} | {m['test_acc']:.4f} | {target:.2f} | "
                f"{m['epochs']} | {m['wall_seconds']:.0f} |"
            )
            rows.append(line)
            print(line, flush=True)
        rows.append(
            f"| {dataset} | {variant} | gap | {abs(accs['tfconv'] - accs['keras']):.4f} | "
            "< 0.01 | | |"
        )
        print(rows[-1], flush=True)
    header = [
        "| dataset | variant | layers | test acc | target | epochs | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    fileio.write_text_atomic(args.out, "\n".join(header + rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
