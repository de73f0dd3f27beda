"""The `tfconv` command: one entry point, one subcommand per job.

Parsing lives here and nothing else: each subcommand hands its arguments to
the library (`tfconv.train`, ...). A bad argument prints one line and exits
with status 2; a failure of the job itself exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tfconv.data import SOURCES
from tfconv.train import DATASETS, PRECISIONS, STRATEGIES

# TensorFlow's C++ start-up chatter hides the lines people came for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class UsageError(Exception):
    """A bad command-line value: reported in one line, exit status 2."""


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """`--dataset`, `--data-dir` and `--source`, shared by every data-reading command."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="dataset (default: fashion_mnist)",
    )
    group.add_argument(
        "--data-dir",
        default=None,
        help="folder with the four official IDX .gz files (default: $TFCONV_DATA_DIR, "
        "Keras's cache, /usr/share/datasets, tensorflow-datasets)",
    )
    group.add_argument(
        "--source",
        choices=("auto", *SOURCES),
        default=None,
        help="where to read the data from (default: auto, in that order)",
    )


def _add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (default: the book's LeNet on Fashion-MNIST)",
        description="Train a model and write model.keras, metrics.json, history.csv, "
        "curves.png, run.json and TensorBoard logs to --out. Run again with the same "
        "--out and settings after an interruption to resume from the last finished "
        "epoch; a finished run is left as it is, another run's folder is refused.",
    )
    add_data_options(p)
    p.add_argument("--variant", default=None, help="model variant (see `tfconv variants`)")
    p.add_argument(
        "--layers",
        choices=("tfconv", "keras"),
        default=None,
        help="tfconv's own layers (default) or Keras's built-ins",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: the variant's recipe")
    p.add_argument("--lr", type=float, default=None, help="learning rate (book: 0.9)")
    p.add_argument("--batch-size", type=int, default=None, help="book: 256")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default=None)
    p.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default=None,
        help="learning-rate schedule (default: the variant's recipe)",
    )
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0)")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="light augmentation: flips and 2-pixel shifts",
    )
    p.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="auto: mixed_float16 on a GPU of compute capability >= 7.0, float32 on CPU",
    )
    p.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA compilation (default: Keras's choice, off on CPU)",
    )
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="tf.distribute strategy; multiworker reads TF_CONFIG",
    )
    p.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help="batches per compiled call (GPU: 16-64)",
    )
    p.add_argument(
        "--scale-lr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale --lr by batch size / the recipe's batch size",
    )
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deterministic ops and data order",
    )
    p.add_argument("--limit-train", type=int, default=None, help="use the first N examples")
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument(
        "--config",
        default=None,
        help="JSON file of run and model settings (e.g. a tuner's "
        "best_config.json); flags given here override it",
    )
    p.add_argument("--out", default=None, help="run folder (default: saved_models/VARIANT)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run --out holds, finished or not, with this one",
    )
    p.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="1: progress bar per epoch (default), 2: one line, 0: quiet",
    )
    p.set_defaults(run=_run_train)


_TRAIN_FLAGS = (
    "dataset", "data_dir", "source", "variant", "layers", "epochs", "lr", "batch_size",
    "optimizer", "schedule", "momentum", "augment", "standardize", "precision", "jit", "strategy",
    "steps_per_execution", "scale_lr", "seed", "deterministic", "limit_train", "limit_test",
    "verbose",
)  # fmt: skip


def _run_train(args: argparse.Namespace) -> int:
    from tfconv import train

    given = {k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k) is not None}
    try:
        if args.config:
            config = train.config_from_file(args.config, **given)
        else:
            config = train.TrainConfig(**given)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    out = args.out or os.path.join("saved_models", str(config.variant))
    try:
        result = train.train(config, out=out, overwrite=args.overwrite)
    except train.ConfigError as err:
        raise UsageError(str(err)) from None
    except (train.TrainingDivergedError, OSError) as err:
        # OSError: the outputs or the resume state could not be written.
        print(f"tfconv train: {err}", file=sys.stderr)
        return 1
    m = result.metrics
    if result.status == "finished":
        # Said even under --verbose 0: the command did nothing it was asked to.
        print(
            f"{out} holds this run, already finished (test acc {m['test_acc']:.3f}); "
            "nothing to do (--overwrite trains it again)"
        )
        return 0
    if not m["config"].get("verbose", 1):
        return 0  # verbose 0: silent but for errors
    print(
        f"loss {m['loss']:.3f}, train acc {m['train_acc']:.3f}, test acc {m['test_acc']:.3f}"
        f"  ({m['wall_seconds']:.1f} s; outputs in {out})"
    )
    return 0


def _add_variants_parser(sub: Any) -> None:
    p = sub.add_parser("variants", help="list the model variants")
    p.set_defaults(run=_run_variants)


def _run_variants(args: argparse.Namespace) -> int:
    from tfconv import models

    for name in models.list_variants():
        recipe = models.get_recipe(name)
        what = f"{recipe.optimizer}, lr {recipe.lr:g}, {recipe.schedule}"
        print(f"{name:16s} {models.DESCRIPTIONS[name]}  [recipe: {what}]")
    return 0


_PARSERS: list[Callable[[Any], None]] = [_add_train_parser, _add_variants_parser]

# Further subcommands live in `tfconv.commands.<name>`, each module with
# `add_parser(subparsers)` that registers its parser and sets `run=`.
_COMMAND_MODULES: tuple[str, ...] = ("viz", "chapter", "bench", "tune", "export")


def build_parser() -> argparse.ArgumentParser:
    from tfconv import __version__

    parser = argparse.ArgumentParser(
        prog="tfconv",
        description="LeNet and the CNN chapter of Dive into Deep Learning on TensorFlow/Keras.",
    )
    parser.add_argument("--version", action="version", version=f"tfconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _PARSERS:
        add(sub)
    for name in _COMMAND_MODULES:
        importlib.import_module(f"tfconv.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `tfconv ARGS`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        # Every command runs Keras on TensorFlow; under another backend, say so
        # once instead of failing inside Keras or a layer.
        from tfconv import require_tensorflow_backend

        require_tensorflow_backend()
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"tfconv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tfconv {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        # Every command's last line of defence: one line, never a traceback
        # (TFCONV_TRACEBACK=1 shows it, for debugging tfconv itself).
        if os.environ.get("TFCONV_TRACEBACK"):
            raise
        print(f"tfconv {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1


def one_line(err: BaseException) -> str:
    """An exception as one line: an OS error's reason and file, else its first line."""
    if isinstance(err, OSError) and err.strerror:
        names = [n for n in (err.filename, err.filename2) if n is not None]
        where = f": {' -> '.join(map(str, names))}" if names else ""
        return f"{err.strerror}{where}"
    text = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
    text = text if len(text) <= 300 else text[:297] + "..."
    if type(err).__module__.startswith("tfconv") and text:
        return text  # tfconv's own errors are written to be read as they are
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


if __name__ == "__main__":
    # Through the imported module, not this `__main__` copy, whose UsageError
    # would be a different class from the one the subcommands raise.
    from tfconv.cli import main as _main

    sys.exit(_main())
