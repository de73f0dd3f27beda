"""`tfconv tune`: hyperparameter search with KerasTuner (see `tfconv.tune`).

Examples:

    tfconv tune --tuner bayesian --max-trials 20 --epochs 3 --dir saved_models/tune/bo
    tfconv tune --tuner hyperband --epochs 9 --max-trials 30 --dir saved_models/tune/hb
    tfconv tune --distributed --workers 2 --max-trials 8 --dir saved_models/tune/dist
    tfconv train --config saved_models/tune/bo/best_config.json --out saved_models/best

Run the same command again after an interruption to resume the search;
`--overwrite` starts it over.

Workers on other machines that share `--dir` join a chief started with
`--distributed --oracle-ip 0.0.0.0 --oracle-port PORT` by running the same
command (without `--distributed`) with KerasTuner's environment variables:

    KERASTUNER_TUNER_ID=tuner7 KERASTUNER_ORACLE_IP=<chief host> \\
    KERASTUNER_ORACLE_PORT=PORT tfconv tune ...
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tfconv.cli.common import Command, LazyChoices, UsageError, add_data_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The tune options, in groups: search, data, trials, distributed search."""
    _add_search_options(p)
    add_data_options(p)
    _add_trial_options(p)
    _add_distributed_options(p)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("search")
    group.add_argument(
        "--tuner",
        default="random",
        metavar="TUNER",
        help="search algorithm of `tfconv.tune.TUNERS`: random (default), bayesian (needs "
        "scikit-learn), hyperband or grid",
    )
    group.add_argument(
        "--max-trials",
        type=int,
        default=10,
        help="trials to run at most (default 10); raise it to extend a finished search",
    )
    group.add_argument(
        "--dir", default="saved_models/tune/search", help="search folder (created; resumed)"
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an earlier tfconv search in --dir and start over",
    )
    group.add_argument("--seed", type=int, default=0, help="seed of the search and of every trial")
    group.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=2,
        help="2: one line per epoch (default), 1: progress bars, 0: trial lines only",
    )


def _add_trial_options(p: argparse.ArgumentParser) -> None:
    from tfconv.train import PRECISIONS

    group = p.add_argument_group("trials")
    group.add_argument(
        "--epochs",
        type=int,
        default=3,
        help="epochs per trial; for hyperband the most any trial gets (default 3)",
    )
    group.add_argument(
        "--validation-split",
        type=float,
        default=0.1,
        help="fraction of the training set that scores trials (default 0.1)",
    )
    group.add_argument(
        "--limit-train", type=int, default=None, help="use the first N training examples"
    )
    group.add_argument(
        "--limit-test", type=int, default=None, help="use the first N test examples"
    )
    group.add_argument(
        "--max-params",
        type=int,
        default=None,
        help="largest model a trial may build, in parameters (default: no limit)",
    )
    group.add_argument(
        "--layers",
        type=LazyChoices("tfconv.models", "LAYER_BACKENDS"),
        metavar="LAYERS",
        default="keras",
        help="Keras's built-in layers (default; faster on CPU) or tfconv's own "
        "(`tfconv.models.LAYER_BACKENDS`)",
    )
    group.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto: mixed_float16 on a GPU of compute capability >= 7.0, float32 on CPU",
    )
    group.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="standardise pixels instead of scaling to [0, 1]",
    )


def _add_distributed_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("distributed search (KerasTuner's chief/worker protocol)")
    group.add_argument(
        "--distributed",
        action="store_true",
        help="start a chief and --workers workers on this machine",
    )
    group.add_argument(
        "--workers", type=int, default=2, help="local workers with --distributed (default 2)"
    )
    group.add_argument(
        "--oracle-ip",
        default="127.0.0.1",
        help="address the chief listens on (default 127.0.0.1; 0.0.0.0 for remote workers)",
    )
    group.add_argument(
        "--oracle-port", type=int, default=None, help="the chief's port (default: a free one)"
    )


def _config(args: argparse.Namespace) -> Any:
    from tfconv import tune

    return tune.TuneConfig(
        dataset=args.dataset or "fashion_mnist",
        tuner=args.tuner,
        max_trials=args.max_trials,
        epochs=args.epochs,
        validation_split=args.validation_split,
        layers=args.layers,
        precision=args.precision,
        standardize=args.standardize,
        seed=args.seed,
        max_params=args.max_params,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        data_dir=args.data_dir,
        source=args.source or "auto",
        verbose=args.verbose,
    )


def _participant_argv(args: argparse.Namespace) -> list[str]:
    """The arguments of one chief or worker: this command without the launcher's."""
    argv = ["tune", "--tuner", args.tuner, "--max-trials", str(args.max_trials)]
    argv += ["--epochs", str(args.epochs), "--dir", args.dir]
    argv += ["--validation-split", repr(args.validation_split), "--layers", args.layers]
    argv += ["--precision", args.precision, "--seed", str(args.seed)]
    argv += ["--verbose", str(args.verbose)]
    argv.append("--standardize" if args.standardize else "--no-standardize")
    for flag in ("dataset", "data_dir", "source", "limit_train", "limit_test", "max_params"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    """Runs `tfconv tune`; returns the exit status."""
    from tfconv import train, tune
    from tfconv.utils import fileio

    try:
        fileio.check_output_dir(args.dir, "dir")
        config = _config(args)  # checks its fields
        if args.distributed:
            if args.workers < 0:
                raise ValueError(
                    f"`workers` must be an integer >= 0. Received: workers={args.workers}"
                )
            # The chief and workers must not race to create or delete the folder.
            tune.prepare_directory(args.dir, config, overwrite=args.overwrite)
    except (ValueError, train.ConfigError) as err:
        raise UsageError(str(err)) from None
    if args.distributed:
        try:
            return tune.launch_distributed(
                _participant_argv(args),
                args.workers,
                oracle_ip=args.oracle_ip,
                oracle_port=args.oracle_port,
            )
        except OSError as err:
            raise UsageError(f"Cannot start the chief: {err}") from None
    try:
        result = tune.search(config, args.dir, overwrite=args.overwrite)
    except train.ConfigError as err:
        raise UsageError(str(err)) from None
    except tune.SearchError as err:
        print(f"tfconv tune: {err}", file=sys.stderr)
        return 1
    if result.role == "worker":
        print(f"tfconv tune: worker finished; the chief writes the results to {args.dir}")
    return 0


_DESCRIPTION = (
    "Search the LeNet template's hyperparameters (architecture, optimizer, learning rate, "
    "batch size, ...) with KerasTuner, scoring each trial on a validation split of the "
    "training set. Writes results.csv/.md (every trial, best first), best_config.json "
    "(for `tfconv train --config`), best_model.keras (evaluated once on the test set) and "
    "summary.json to --dir. Run the same command again to resume an interrupted search."
)

COMMANDS = (
    Command(
        name="tune",
        help="hyperparameter search (KerasTuner: random, bayesian, hyperband, grid)",
        description=_DESCRIPTION,
        add_arguments=add_arguments,
        run=run,
    ),
)
