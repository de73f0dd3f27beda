"""`tfconv train`: train a model into a run folder (see `tfconv.train.train`)."""

from __future__ import annotations

import argparse
import os
import sys

from tfconv.cli.common import Command, LazyChoices, UsageError, add_data_options

_FLAGS = (
    "dataset", "data_dir", "source", "variant", "layers", "epochs", "lr", "batch_size",
    "optimizer", "schedule", "momentum", "augment", "standardize", "precision", "jit", "strategy",
    "steps_per_execution", "scale_lr", "seed", "deterministic", "limit_train", "limit_test",
    "verbose",
)  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train options, in groups: data, model, recipe, speed, run folder."""
    add_data_options(p)
    _add_model_options(p)
    _add_recipe_options(p)
    _add_speed_options(p)
    _add_run_options(p)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("model")
    group.add_argument("--variant", default=None, help="model variant (see `tfconv variants`)")
    group.add_argument(
        "--layers",
        type=LazyChoices("tfconv.models", "LAYER_BACKENDS"),
        metavar="LAYERS",
        default=None,
        help="tfconv's own layers (default) or Keras's built-ins (`tfconv.models.LAYER_BACKENDS`)",
    )


def _add_recipe_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("recipe (default: the variant's)")
    group.add_argument("--epochs", type=int, default=None, help="default: the variant's recipe")
    group.add_argument("--lr", type=float, default=None, help="learning rate (book: 0.9)")
    group.add_argument("--batch-size", type=int, default=None, help="book: 256")
    group.add_argument(
        "--optimizer",
        type=LazyChoices("tfconv.models", "OPTIMIZERS"),
        metavar="OPTIMIZER",
        default=None,
        help="default: the variant's recipe (`tfconv.models.OPTIMIZERS`)",
    )
    group.add_argument(
        "--schedule",
        type=LazyChoices("tfconv.models", "SCHEDULES"),
        metavar="SCHEDULE",
        default=None,
        help="learning-rate schedule (default: the variant's recipe; `tfconv.models.SCHEDULES`)",
    )
    group.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0)")
    group.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="light augmentation: flips and 2-pixel shifts",
    )
    group.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--seed", type=int, default=None, help="default 0")
    group.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="deterministic ops and data order",
    )
    group.add_argument("--limit-train", type=int, default=None, help="use the first N examples")
    group.add_argument("--limit-test", type=int, default=None)


def _add_speed_options(p: argparse.ArgumentParser) -> None:
    from tfconv.train import PRECISIONS, STRATEGIES

    group = p.add_argument_group("speed and devices")
    group.add_argument(
        "--precision",
        default=None,
        choices=PRECISIONS,
        help="auto: mixed_float16 on a GPU of compute capability >= 7.0, float32 on CPU",
    )
    group.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="XLA compilation (default: Keras's choice, off on CPU)",
    )
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="tf.distribute strategy; multiworker reads TF_CONFIG",
    )
    group.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help="batches per compiled call (GPU: 16-64)",
    )
    group.add_argument(
        "--scale-lr",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale --lr by batch size / the recipe's batch size",
    )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("run folder and output")
    group.add_argument(
        "--config",
        default=None,
        help="JSON file of run and model settings (e.g. a tuner's "
        "best_config.json); flags given here override it",
    )
    group.add_argument("--out", default=None, help="run folder (default: saved_models/VARIANT)")
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run --out holds, finished or not, with this one",
    )
    group.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="1: progress bar per epoch (default), 2: one line, 0: quiet",
    )


def run(args: argparse.Namespace) -> int:
    """Runs `tfconv train`; returns the exit status."""
    from tfconv import train

    config = _config(args)
    out = args.out or os.path.join("saved_models", str(config.variant))
    try:
        result = train.train(config, out=out, overwrite=args.overwrite)
    except train.ConfigError as err:
        raise UsageError(str(err)) from None
    except (train.TrainingDivergedError, OSError) as err:
        # OSError: the outputs or the resume state could not be written.
        print(f"tfconv train: {err}", file=sys.stderr)
        return 1
    _report(result, out)
    return 0


def _config(args: argparse.Namespace) -> object:
    """The `TrainConfig` of the flags given (over `--config`'s file, if any)."""
    from tfconv import train

    given = {k: getattr(args, k) for k in _FLAGS if getattr(args, k) is not None}
    try:
        if args.config:
            return train.config_from_file(args.config, **given)
        return train.TrainConfig(**given)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None


def _report(result: object, out: str) -> None:
    """The closing line: the run's numbers, or that it was finished already."""
    m = result.metrics
    if result.status == "finished":
        # Said even under --verbose 0: the command did nothing it was asked to.
        print(
            f"{out} holds this run, already finished (test acc {m['test_acc']:.3f}); "
            "nothing to do (--overwrite trains it again)"
        )
        return
    if not m["config"].get("verbose", 1):
        return  # verbose 0: silent but for errors
    print(
        f"loss {m['loss']:.3f}, train acc {m['train_acc']:.3f}, test acc {m['test_acc']:.3f}"
        f"  ({m['wall_seconds']:.1f} s; outputs in {out})"
    )


COMMANDS = (
    Command(
        name="train",
        help="train a model (default: the book's LeNet on Fashion-MNIST)",
        description="Train a model and write model.keras, metrics.json, history.csv, "
        "curves.png, run.json and TensorBoard logs to --out. Run again with the same "
        "--out and settings after an interruption to resume from the last finished "
        "epoch; a finished run is left as it is, another run's folder is refused.",
        add_arguments=add_arguments,
        run=run,
    ),
)
