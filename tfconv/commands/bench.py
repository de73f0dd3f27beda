"""`tfconv bench`: the benchmark suite (see `tfconv.bench`)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    from tfconv.cli import add_data_options

    p = sub.add_parser(
        "bench",
        help="run the benchmark suite (layers, pipeline, roofline, time to accuracy, ...)",
        description="Run the benchmark suite and write bench.json and bench.md to --out. "
        "--quick shrinks every section so that it checks in a couple of minutes that each "
        "benchmark produces numbers; only full runs give numbers worth reporting.",
    )
    add_data_options(p)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for CI")
    p.add_argument("--out", default="saved_models/bench", help="output folder")
    p.add_argument(
        "--only", choices=("zoo",), default=None,
        help="run one section alone (zoo: the layer zoo's training steps)",
    )  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tfconv import bench

    bench.run_suite(args.out, quick=args.quick, data_dir=args.data_dir, only=args.only)
    print(f"wrote {args.out}/bench.json and {args.out}/bench.md")
    return 0
