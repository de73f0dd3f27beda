"""`train(config, out)`: one training run, from its configuration to its published run folder.

`train` is a short sequence of named steps: resolve the configuration, open
the run folder (`run_folder.RunFolder`) and settle whether the run is
fresh, resumed, finished or refused, then build, restore, fit, summarise
and publish.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tfconv.train.callbacks import make_epoch_keeper, make_nan_guard, make_reporter
from tfconv.train.config import TrainConfig
from tfconv.train.curves import write_curves
from tfconv.train.history import read_history, write_history
from tfconv.train.loop import fit_custom_loop
from tfconv.train.results import (
    TrainingDivergedError,
    TrainResult,
    data_fingerprint,
    run_settings,
    summarize,
)
from tfconv.train.run_folder import RunFolder, RunFolderError
from tfconv.train.setup import compile_model, make_optimizer, make_strategy, resolve_precision
from tfconv.train.workers import agree_with_chief, all_equal, is_chief
from tfconv.utils.errors import ConfigError
from tfconv.utils.runtime import describe_device, package_versions

# What a run does with its folder; under multi-worker the chief's choice is
# sent to every worker as its index.
_ACTIONS = ("fresh", "resume", "finished", "refused")

CurvesDrawer = Callable[[Path, Sequence[dict[str, float]], str], None]


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
    cfg, precision, strategy = _resolve(config)
    chief = is_chief(strategy)
    folder = RunFolder(out, write=chief) if out is not None else None
    failed = True
    try:
        pipes, epoch_var, action = _open(cfg, precision, strategy, chief, folder, out, overwrite)
        if action == "finished":
            failed = False
            return _finished_result(Path(out))
        if print_fn is None:
            print_fn = print if cfg.verbose else _silent
        run = _Run(cfg, precision, strategy, chief, folder, pipes, epoch_var)
        result = _run(run, print_fn, extra_callbacks, draw_curves)
        failed = False
        if action == "resume":
            result.status = "resumed"
        return result
    finally:
        if folder is not None:
            folder.close(failed=failed)


@dataclasses.dataclass
class _Run:
    """What the steps of a run share once its folder is settled."""

    cfg: TrainConfig
    precision: str
    strategy: Any
    chief: bool
    folder: RunFolder | None
    pipes: Any
    epoch_var: Any

    @property
    def multiworker(self) -> bool:
        return self.cfg.strategy == "multiworker"

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (the chief of a run with one)."""
        return self.folder is not None and self.chief


def _silent(_: str) -> None:
    pass


# --------------------------------------------------------------------------
# Before training: the configuration and the run folder
# --------------------------------------------------------------------------


def _resolve(config: TrainConfig) -> tuple[TrainConfig, str, Any]:
    """The resolved config, precision and strategy; a bad one is a `ConfigError`."""
    try:
        cfg = config.resolved()
        return cfg, resolve_precision(cfg.precision), make_strategy(cfg.strategy)
    except ValueError as err:
        raise ConfigError(str(err)) from err


def _open(
    cfg: TrainConfig,
    precision: str,
    strategy: Any,
    chief: bool,
    folder: RunFolder | None,
    out: str | os.PathLike | None,
    overwrite: bool,
) -> tuple[Any, Any, str]:
    """Takes the folder, seeds, makes the pipelines and settles the action (`_ACTIONS`).

    Returns:
        The pipelines, their epoch variable and the action: `"fresh"`,
        `"resume"` or `"finished"` (a refusal is raised).
    """
    from tfconv import data

    try:
        if folder is not None:
            folder.acquire()
        _seed(cfg)
        epoch_var = _make_epoch_var()
        pipes = _make_pipelines(cfg, epoch_var)
        action, settings, refusal = _decide(cfg, precision, folder, overwrite)
    except (ValueError, data.DataNotFoundError) as err:
        # Everything up to here is the user's input; what fails later is not.
        raise ConfigError(str(err)) from err
    if folder is not None and action in ("fresh", "resume"):
        # Before the workers agree: a fresh run clears the old resume
        # state, which no worker may restore from.
        folder.begin(
            settings,
            fresh=action == "fresh",
            info={"versions": package_versions(), "command": " ".join(sys.argv)},
        )
    if cfg.strategy == "multiworker" and folder is not None:
        action, refusal = _agree_on_action(strategy, chief, action, refusal, out)
    if refusal is not None:
        raise ConfigError(str(refusal)) from refusal
    return pipes, epoch_var, action


def _seed(cfg: TrainConfig) -> None:
    """Seeds first: they define the initial weights (and, deterministic, the ops)."""
    import keras
    import tensorflow as tf

    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)


def _make_epoch_var() -> Any:
    """The training pipeline's epoch, and the resume state's count of finished epochs."""
    import tensorflow as tf

    with tf.init_scope(), tf.device("/CPU:0"):
        return tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")


def _make_pipelines(cfg: TrainConfig, epoch_var: Any) -> Any:
    from tfconv import data

    return data.pipelines(
        cfg.dataset,
        cfg.batch_size,
        data_dir=cfg.data_dir,
        source=cfg.source,
        standardize=cfg.standardize,
        augment=cfg.augment,
        seed=cfg.seed,
        deterministic=cfg.deterministic,
        limit_train=cfg.limit_train,
        limit_test=cfg.limit_test,
        epoch=epoch_var,
    )


def _decide(
    cfg: TrainConfig, precision: str, folder: RunFolder | None, overwrite: bool
) -> tuple[str, dict[str, Any], Exception | None]:
    """The action the folder allows, the run's settings, and the folder's refusal if any."""
    from tfconv import data

    if folder is None:
        return "fresh", {}, None
    arrays = data.load(cfg.dataset, data_dir=cfg.data_dir, source=cfg.source)
    settings = run_settings(cfg, precision, data_fingerprint([*arrays[0], *arrays[1]]))
    try:
        return folder.decide(settings, overwrite=overwrite), settings, None
    except RunFolderError as err:
        return "refused", settings, err


def _agree_on_action(
    strategy: Any,
    chief: bool,
    action: str,
    refusal: Exception | None,
    out: str | os.PathLike | None,
) -> tuple[str, Exception | None]:
    """The chief decides for all: every worker must run the same epochs."""
    action = _ACTIONS[agree_with_chief(strategy, chief, _ACTIONS.index(action))]
    if action != "refused":
        return action, None
    if refusal is None:
        refusal = ConfigError(
            f"The chief worker refused the run folder (see its message). "
            f"Received: out={str(out)!r}"
        )
    return action, refusal


def _finished_result(out: Path) -> TrainResult:
    import keras

    metrics = json.loads((out / "metrics.json").read_text())
    model = keras.models.load_model(out / "model.keras")
    return TrainResult(
        model=model,
        history=read_history(out / "history.csv"),
        metrics=metrics,
        out=out,
        status="finished",
    )


# --------------------------------------------------------------------------
# The run: build, restore, fit, summarise, publish
# --------------------------------------------------------------------------


def _run(
    run: _Run,
    print_fn: Callable[[str], None],
    extra_callbacks: Sequence[Any],
    draw_curves: CurvesDrawer | None,
) -> TrainResult:
    """Builds, restores, trains and publishes: the run after its folder is settled."""
    device = describe_device()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_dtype_policy(run.precision))
        model = _build_model(run)
        history, save = _restore(run, model, stack)
        callbacks, nan_guard = _make_callbacks(
            run, device, history, save, print_fn, extra_callbacks
        )
        wall = _fit(run, model, callbacks)
    _check_finite(nan_guard, run)
    metrics = summarize(history, wall, _facts(run, model, device))
    if run.writes:
        _publish(run, model, metrics, history, draw_curves)
    return TrainResult(
        model=model, history=history, metrics=metrics, out=run.folder and run.folder.path
    )


@contextlib.contextmanager
def _dtype_policy(precision: str) -> Iterator[None]:
    """Keras's global dtype policy set to `precision`, and restored for whoever trains next."""
    import keras

    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def _build_model(run: _Run) -> Any:
    """The model and its optimizer, compiled, under the strategy's scope."""
    from tfconv import models

    cfg = run.cfg
    with run.strategy.scope():
        model = models.build(cfg.variant, layers=cfg.layers, **cfg.model)
        optimizer = make_optimizer(
            cfg.optimizer,
            cfg.lr,
            cfg.momentum,
            cfg.weight_decay,
            cfg.schedule,
            decay_steps=cfg.epochs * run.pipes.steps_per_epoch,
        )
        compile_model(
            model,
            optimizer,
            jit_compile="auto" if cfg.jit is None else cfg.jit,
            steps_per_execution=cfg.steps_per_execution,
        )
        # The optimizer's slots must exist for the checkpoint to fill them.
        model.optimizer.build(model.trainable_variables)
    return model


def _restore(
    run: _Run, model: Any, stack: contextlib.ExitStack
) -> tuple[list[dict[str, float]], Callable[[], None] | None]:
    """Restores the last finished epoch, if any; the history so far and the saver."""
    import tensorflow as tf

    if run.folder is None:
        return [], None
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=run.epoch_var)
    _restore_checkpoint(run, ckpt)
    history = []
    if run.chief:
        history = run.folder.read_history()[: int(run.epoch_var.numpy())]
    return history, _make_saver(run, ckpt, stack)


def _restore_checkpoint(run: _Run, ckpt: Any) -> None:
    import tensorflow as tf

    # Every worker restores from the chief's checkpoint (TensorFlow's
    # multi-worker recipe; the folder must be one all workers share).
    latest = tf.train.latest_checkpoint(str(run.folder.checkpoint_dir))
    if latest:
        ckpt.restore(latest).assert_existing_objects_matched()
    else:
        run.epoch_var.assign(0)
    if run.multiworker and not all_equal(run.strategy, int(run.epoch_var.numpy())):
        raise RuntimeError(
            f"The workers found different checkpoints in {run.folder.checkpoint_dir}: "
            "--out must be a folder that every worker sees."
        )


def _make_saver(run: _Run, ckpt: Any, stack: contextlib.ExitStack) -> Callable[[], None]:
    """Saves the checkpoint: the chief's into the folder, other workers' nowhere lasting."""
    import tensorflow as tf

    if run.chief:
        manager = tf.train.CheckpointManager(ckpt, str(run.folder.checkpoint_dir), max_to_keep=1)
        return manager.save
    # Non-chief workers take part in saving (a collective under multi-worker)
    # into a scratch folder they delete.
    scratch = Path(tempfile.mkdtemp(prefix="tfconv-worker-"))
    stack.callback(shutil.rmtree, scratch, ignore_errors=True)
    manager = tf.train.CheckpointManager(ckpt, str(scratch), max_to_keep=1)

    def save() -> None:
        manager.save()
        shutil.rmtree(scratch, ignore_errors=True)

    return save


def _make_callbacks(
    run: _Run,
    device: str,
    history: list[dict[str, float]],
    save: Callable[[], None] | None,
    print_fn: Callable[[str], None],
    extra_callbacks: Sequence[Any],
) -> tuple[list[Any], Any]:
    """The run's callbacks, in the order they must run, and the NaN guard among them."""
    import keras

    cfg, pipes = run.cfg, run.pipes
    reporter = make_reporter(
        pipes.num_train, cfg.epochs, device, print_fn if run.chief else _silent, history
    )
    keeper = make_epoch_keeper(
        run.epoch_var,
        pipes.steps_per_epoch,
        history,
        save,
        run.folder.write_history if run.writes else None,
    )
    nan_guard = make_nan_guard()
    # Our own progress bar first, so each epoch's summary prints after it;
    # the keeper after the reporter, whose row it saves.
    callbacks = [nan_guard, reporter, keeper, *extra_callbacks]
    if run.chief and cfg.verbose:
        callbacks.insert(0, keras.callbacks.ProgbarLogger())
    if run.writes:
        callbacks.append(
            keras.callbacks.TensorBoard(
                str(run.folder.path / "logs"), profile_batch=0, write_graph=not run.multiworker
            )
        )
    return callbacks, nan_guard


def _fit(run: _Run, model: Any, callbacks: list[Any]) -> float:
    """Trains from the restored epoch to the last; the seconds it took."""
    cfg, pipes = run.cfg, run.pipes
    initial_epoch = int(run.epoch_var.numpy())
    start = time.perf_counter()
    if initial_epoch < cfg.epochs:
        if run.multiworker:
            fit_custom_loop(model, run.strategy, pipes, cfg.epochs, callbacks, initial_epoch)
        else:
            model.fit(
                pipes.train,
                epochs=cfg.epochs,
                initial_epoch=initial_epoch,
                validation_data=pipes.test,
                callbacks=callbacks,
                verbose=cfg.verbose if run.chief else 0,
                shuffle=False,  # the pipeline shuffles per example; Keras cannot
            )
    return time.perf_counter() - start


def _check_finite(nan_guard: Any, run: _Run) -> None:
    if nan_guard.stopped_at is not None:
        raise TrainingDivergedError(
            f"The loss became NaN or infinite in epoch {nan_guard.stopped_epoch}, batch "
            f"{nan_guard.stopped_at}; training was stopped. Try a smaller learning rate "
            f"(lr={run.cfg.lr}) or float32 precision (precision={run.precision})."
        )


def _facts(run: _Run, model: Any, device: str) -> dict[str, Any]:
    """What `metrics.json` records besides the numbers: where, how and what ran."""
    return {
        "device": device,
        "precision": run.precision,
        "strategy": run.cfg.strategy,
        "replicas": run.strategy.num_replicas_in_sync,
        "num_params": model.count_params(),
        "num_train": run.pipes.num_train,
        "num_test": run.pipes.num_test,
        "config": run.cfg.to_dict(),
        "versions": package_versions(),
        "command": " ".join(sys.argv),
    }


def _publish(
    run: _Run,
    model: Any,
    metrics: dict[str, Any],
    history: list[dict[str, float]],
    draw_curves: CurvesDrawer | None,
) -> None:
    """Writes the snapshot (model, metrics, history, curves) into the folder, all or nothing."""
    from tfconv import data, models

    cfg = run.cfg
    info = data.get_info(cfg.dataset)
    mean, std = (info.mean, info.std) if cfg.standardize else (0.0, 1.0)
    deployable = models.with_preprocessing(
        model, mean, std, class_names=info.class_names, dataset=info.name
    )
    writers: dict[str, Callable[[Path], None]] = {
        "model.keras": deployable.save,
        "metrics.json": lambda path: path.write_text(json.dumps(metrics, indent=2) + "\n"),
        "history.csv": lambda path: write_history(path, history),
    }
    if draw_curves is not None:
        title = f"{cfg.variant} on {cfg.dataset}"
        writers["curves.png"] = lambda path: draw_curves(path, history, title)
    run.folder.publish(writers)
