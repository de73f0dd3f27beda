"""`tfconv bench`: the benchmark suite (see `tfconv.bench`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bench",
        help="run the benchmark suite (layers, pipeline, roofline, time to accuracy, ...)",
        description="Run the benchmark suite and write bench.json and bench.md to --out. "
        "--quick shrinks every section so that it checks in a couple of minutes that each "
        "benchmark produces numbers; only full runs give numbers worth reporting.",
    )
    # Only --data-dir: every section measures Fashion-MNIST (its targets, e.g.
    # time to 0.90 test accuracy, are that dataset's), so --dataset and
    # --source would be accepted and then ignored.
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder with the four official Fashion-MNIST IDX .gz files (default: "
        "$TFCONV_DATA_DIR, Keras's cache, /usr/share/datasets, tensorflow-datasets)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    p.add_argument("--out", default="saved_models/bench", help="output folder")
    p.add_argument(
        "--only", choices=("zoo",), default=None,
        help="run one section alone (zoo: the layer zoo's training steps)",
    )  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tfconv import bench
    from tfconv.cli import UsageError
    from tfconv.utils import fileio

    try:
        fileio.check_output_dir(args.out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    bench.run_suite(args.out, quick=args.quick, data_dir=args.data_dir, only=args.only)
    print(f"wrote {args.out}/bench.json and {args.out}/bench.md")
    return 0
