"""`tfconv export` (SavedModel / TFLite with a built-in check) and `tfconv predict`.

Only parsing lives here; the work is `tfconv.export.export_model` and
`tfconv.export.predict`. TensorFlow is imported when a command runs, not
when the parser is built.
"""

from __future__ import annotations

import argparse
import sys

from tfconv.cli.common import Command, UsageError, add_data_options, int_at_least


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    """The export options: what to write, the data it is checked on, how to check."""
    from tfconv.export import FORMATS, QUANTIZATIONS

    p.add_argument("model", help="run folder (with model.keras) or a .keras file")
    p.add_argument(
        "--format",
        action="append",
        default=None,
        metavar="FORMAT",
        help=f"{', '.join(FORMATS)} or all (default); repeat or comma-separate for several",
    )
    p.add_argument(
        "--quantize",
        action="append",
        default=None,
        metavar="MODE",
        help=f"TFLite variants: {', '.join(QUANTIZATIONS)} or all (default: none, float32; "
        "dynamic: int8 weights; int8: full integer); repeat or comma-separate for several",
    )
    p.add_argument("--out", default=None, help="output folder (default: export/ beside the model)")
    add_data_options(p)
    p.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the model expects standardised input (default: the run's setting)",
    )
    _add_check_options(p)


def _add_check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--limit-test",
        type=int_at_least(1),
        default=None,
        help="check on the first N test images only (default: all)",
    )
    p.add_argument(
        "--verify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load every file again and compare it with Keras (default: on)",
    )
    p.add_argument(
        "--latency-runs",
        type=int_at_least(0),
        default=200,
        help="single-image runs timed per format (0: no timing)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="print nothing but errors (no progress on stderr, no report table)",
    )


def _progress(line: str) -> None:
    print(f"tfconv export: {line}", file=sys.stderr, flush=True)


def run_export(args: argparse.Namespace) -> int:
    """Runs `tfconv export`; returns the exit status."""
    from tfconv import export

    try:
        formats = export.parse_formats(args.format or ["all"])
        quantize = export.parse_quantize(args.quantize or ["none"])
    except ValueError as err:
        raise UsageError(str(err)) from None
    try:
        export.export_model(
            args.model,
            args.out,
            formats=formats,
            quantize=quantize,
            dataset=args.dataset,
            data_dir=args.data_dir,
            source=args.source,
            standardize=args.standardize,
            verify=args.verify,
            limit_test=args.limit_test,
            latency_runs=args.latency_runs,
            print_fn=None if args.quiet else print,
            progress=None if args.quiet else _progress,
        )
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    except export.ExportError as err:
        print(f"tfconv export: error: {err}", file=sys.stderr)
        return 1
    return 0


def add_predict_arguments(p: argparse.ArgumentParser) -> None:
    """The predict options: the model, the images, how to read and show them."""
    p.add_argument(
        "model",
        help="a .keras file or run folder, a .tflite file, or a SavedModel folder "
        "(or the export folder holding saved_model/)",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument(
        "--invert",
        action="store_true",
        help="invert the images first, for dark-on-light drawings (the datasets are "
        "light-on-dark)",
    )
    p.add_argument("--top", type=int_at_least(1), default=3, help="classes to show (default 3)")
    p.add_argument(
        "--labels",
        default=None,
        help="class names, labels.txt (one per line) or labels.json (default: the "
        "labels.txt beside the model, or the run's dataset)",
    )


def run_predict(args: argparse.Namespace) -> int:
    """Runs `tfconv predict`; returns the exit status."""
    from tfconv import export

    try:
        results = export.predict(
            args.model, args.images, invert=args.invert, top=args.top, labels=args.labels
        )
    except (ValueError, FileNotFoundError) as err:
        raise UsageError(str(err)) from None
    width = max(len(name) for result in results for name, _ in result)
    for image, result in zip(args.images, results, strict=True):
        print(image)
        for rank, (name, prob) in enumerate(result, start=1):
            print(f"  {rank}. {name:{width}s} {prob:7.2%}")
    return 0


COMMANDS = (
    Command(
        name="export",
        help="export a trained model to SavedModel and/or TFLite, and check it",
        description="Export a run's model to SavedModel and TFLite files that take raw "
        "uint8 28x28 pixels and return class probabilities, with labels.txt/labels.json "
        "beside them. Every file is then loaded again and compared with the Keras model "
        "on the test set; the numbers (sizes, ops, max |dp|, accuracy, latency) are "
        "printed and written to export_report.json.",
        add_arguments=add_export_arguments,
        run=run_export,
    ),
    Command(
        name="predict",
        help="classify image files with a .keras, .tflite or SavedModel model",
        description="Classify image files (PNG, JPEG, ... of any size; each is turned "
        "into a 28x28 grayscale image) and print the most likely classes.",
        add_arguments=add_predict_arguments,
        run=run_predict,
    ),
)
