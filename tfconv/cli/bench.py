"""`tfconv bench`: the benchmark suite (see `tfconv.bench`)."""

from __future__ import annotations

import argparse

from tfconv.cli.common import Command, UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`--data-dir`, `--quick`, `--out` and `--only`."""
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


def run(args: argparse.Namespace) -> int:
    """Runs `tfconv bench`; returns the exit status."""
    from tfconv import bench
    from tfconv.utils import fileio

    try:
        fileio.check_output_dir(args.out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    bench.run_suite(args.out, quick=args.quick, data_dir=args.data_dir, only=args.only)
    print(f"wrote {args.out}/bench.json and {args.out}/bench.md")
    return 0


COMMANDS = (
    Command(
        name="bench",
        help="run the benchmark suite (layers, pipeline, roofline, time to accuracy, ...)",
        description="Run the benchmark suite and write bench.json and bench.md to --out. "
        "--quick shrinks every section so that it checks in a couple of minutes that each "
        "benchmark produces numbers; only full runs give numbers worth reporting.",
        add_arguments=add_arguments,
        run=run,
    ),
)
