"""`train(config, out)`: one training run, from its configuration to its published run folder.

`train` is the sequence of the run's steps: resolve the configuration and
open the run folder (`tfconv.train.prepare`), then build, restore, fit,
summarise and publish (`tfconv.train.fit`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tfconv.train.config import TrainConfig
from tfconv.train.curves import write_curves
from tfconv.train.fit import CurvesDrawer, RunContext, fit_run, silent
from tfconv.train.prepare import finished_result, open_run, resolve
from tfconv.train.results import TrainResult
from tfconv.train.run_folder import RunFolder
from tfconv.train.workers import is_chief


def train(
    config: TrainConfig,
    out: str | os.PathLike | None = None,
    print_fn: Callable[[str], None] | None = None,
    extra_callbacks: Sequence[Any] = (),
    overwrite: bool = False,
    draw_curves: CurvesDrawer | None = write_curves,
) -> TrainResult:
    """Trains a model as `config` says and writes the run folder `out`.

    The run folder is a transaction (see `tfconv.train.run_folder`): its
    `run.json` records the settings that define the run; an interrupted run
    with the same settings resumes from its last finished epoch (exactly,
    under `deterministic`: the same weights, history and metrics as an
    uninterrupted run); a finished one is left as it is; another run's
    folder is refused unless `overwrite`. The outputs are published together
    at the end, or not at all.

    Args:
        config: The run's `TrainConfig`.
        out: Output folder (created). `None` writes nothing (no resume).
        print_fn: Where the per-epoch lines go; default `print`, or nowhere
            when `config.verbose` is 0 (silent but for errors).
        extra_callbacks: More Keras callbacks (e.g. early stopping).
        overwrite: Replace whatever run `out` holds (its outputs stay until
            the new ones are published).
        draw_curves: Writes `curves.png`, called as
            `draw_curves(path, history, title)`; default
            `tfconv.train.curves.write_curves`. `None` publishes no picture.

    Returns:
        A `TrainResult`.

    Raises:
        ConfigError: For a bad configuration, an output folder that is not
            writable, busy (another process trains in it) or holds another
            run, or data that cannot be found or read (all found before
            training).
        TrainingDivergedError: If the loss became NaN or infinite.
        tfconv.train.run_folder.PublishError: If the outputs could not be
            written; the previous outputs are untouched and the run can be
            resumed.

    Example:

    >>> result = train(TrainConfig(epochs=1, limit_train=2048), out="saved_models/demo")
    >>> result.metrics["test_acc"]
    """
    cfg, precision, strategy = resolve(config)
    chief = is_chief(strategy)
    folder = RunFolder(out, write=chief) if out is not None else None
    failed = True
    try:
        pipes, epoch_var, action = open_run(
            cfg, precision, strategy, chief, folder, out, overwrite
        )
        if action == "finished":
            failed = False
            return finished_result(Path(out))
        if print_fn is None:
            print_fn = print if cfg.verbose else silent
        run = RunContext(cfg, precision, strategy, chief, folder, pipes, epoch_var)
        result = fit_run(run, print_fn, extra_callbacks, draw_curves)
        failed = False
        if action == "resume":
            result.status = "resumed"
        return result
    finally:
        if folder is not None:
            folder.close(failed=failed)
