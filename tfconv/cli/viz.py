"""`tfconv viz`: pictures of a training run (curves, kernels, feature maps, ...)."""

from __future__ import annotations

import argparse

from tfconv.cli.common import Command, LazyChoices, UsageError, add_data_options

# `tfconv.viz` imports Keras and matplotlib: read when a value is checked, not for `--help`.
_KINDS = LazyChoices("tfconv.viz", "KINDS")


def _kinds(text: str) -> list[str]:
    """An argparse type: comma-separated kinds of `tfconv.viz.KINDS`, or all."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in (*_KINDS, "all")]
    if not kinds or bad:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(_KINDS)}, all; "
            "several separated by commas)"
        )
    return kinds


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The run folder, what to draw, where, and on which data."""
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder with model.keras")
    p.add_argument(
        "--what",
        type=_kinds,
        default=["all"],
        metavar="KIND[,KIND]",
        help="what to draw: kinds of `tfconv.viz.KINDS` (curves, kernels, ...) or all "
        "(default: all)",
    )
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/viz)")
    add_data_options(p)
    p.add_argument(
        "--classes",
        default=None,
        metavar="A,B",
        help="classes compared by `activations`, by name or index (default: Pullover,Coat "
        "and the most confused pair)",
    )
    p.add_argument(
        "--index", type=int, default=0, help="test image shown by `features` (default: 0)"
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use the first N test images (default: the run's --limit-test, else all)",
    )


def run(args: argparse.Namespace) -> int:
    """Runs `tfconv viz`; returns the exit status."""
    from tfconv import viz

    try:
        written = viz.visualize(
            args.run_dir,
            what=args.what,
            out=args.out,
            dataset=args.dataset,
            data_dir=args.data_dir,
            source=args.source,
            classes=args.classes,
            index=args.index,
            limit=args.limit,
        )
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    print(f"{len(written)} picture(s) written")
    return 0


COMMANDS = (
    Command(
        name="viz",
        help="draw pictures of a trained run",
        description="Write PNG pictures of a run folder from `tfconv train`: training "
        "curves, first-layer kernels, feature maps of a test image, mean activations "
        "of chosen classes, the confusion matrix and misclassified test images. The data "
        "options default to the run's own (its metrics.json).",
        add_arguments=add_arguments,
        run=run,
    ),
)
