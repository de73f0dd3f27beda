"""The run once its folder is settled: build, restore, fit, summarise, publish.

`fit_run` is the sequence; each step is a function here. The resume state
(checkpoint and history) is restored before training and saved after each
epoch by the epoch keeper (`tfconv.train.callbacks`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tfconv.train.callbacks import make_epoch_keeper, make_nan_guard, make_reporter
from tfconv.train.config import TrainConfig
from tfconv.train.history import write_history
from tfconv.train.loop import fit_custom_loop
from tfconv.train.results import TrainingDivergedError, TrainResult, summarize
from tfconv.train.run_folder import RunFolder
from tfconv.train.setup import compile_model, make_optimizer
from tfconv.train.workers import all_equal
from tfconv.utils.runtime import describe_device, package_versions

CurvesDrawer = Callable[[Path, Sequence[dict[str, float]], str], None]


@dataclasses.dataclass
class RunContext:
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


def silent(_: str) -> None:
    """A `print_fn` that prints nothing."""


def fit_run(
    run: RunContext,
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


def _build_model(run: RunContext) -> Any:
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
    run: RunContext, model: Any, stack: contextlib.ExitStack
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


def _restore_checkpoint(run: RunContext, ckpt: Any) -> None:
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


def _make_saver(run: RunContext, ckpt: Any, stack: contextlib.ExitStack) -> Callable[[], None]:
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
    run: RunContext,
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
        pipes.num_train, cfg.epochs, device, print_fn if run.chief else silent, history
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


def _fit(run: RunContext, model: Any, callbacks: list[Any]) -> float:
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


def _check_finite(nan_guard: Any, run: RunContext) -> None:
    if nan_guard.stopped_at is not None:
        raise TrainingDivergedError(
            f"The loss became NaN or infinite in epoch {nan_guard.stopped_epoch}, batch "
            f"{nan_guard.stopped_at}; training was stopped. Try a smaller learning rate "
            f"(lr={run.cfg.lr}) or float32 precision (precision={run.precision})."
        )


def _facts(run: RunContext, model: Any, device: str) -> dict[str, Any]:
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
    run: RunContext,
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
