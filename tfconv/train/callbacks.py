"""The Keras callbacks every run trains with: the epoch reporter, the NaN guard, the epoch keeper.

Each is made by a function so that importing `tfconv.train` does not load Keras.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any


def make_reporter(
    num_train: int,
    epochs: int,
    device: str,
    print_fn: Callable[[str], None],
    history: list[dict[str, float]],
) -> Any:
    """A callback printing the book's per-epoch lines and appending to `history`.

    Args:
        num_train: Training examples per epoch (for the throughput).
        epochs: The run's epochs (for `"epoch 3/10"`).
        device: Where training runs, as printed.
        print_fn: Where the lines go.
        history: The rows so far; the callback adds one per epoch (dropping
            any it repeats after a resume).
    """
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._start = time.perf_counter()
            self._train_seconds = None

        def on_test_begin(self, logs: Mapping | None = None) -> None:
            # Validation runs inside the epoch; throughput counts training only.
            if self._train_seconds is None:
                self._train_seconds = time.perf_counter() - self._start

        def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
            logs = dict(logs or {})
            seconds = self._train_seconds or (time.perf_counter() - self._start)
            row = {
                "epoch": epoch + 1,
                "loss": float(logs.get("loss", float("nan"))),
                "train_acc": float(logs.get("accuracy", float("nan"))),
                "test_loss": float(logs.get("val_loss", float("nan"))),
                "test_acc": float(logs.get("val_accuracy", float("nan"))),
                "seconds": seconds,
                "examples_per_sec": num_train / seconds,
                # Wall time of the whole epoch, validation included.
                "wall": time.perf_counter() - self._start,
            }
            # A resumed run repeats no epoch: drop rows from an interrupted attempt.
            del history[epoch:]
            history.append(row)
            print_fn(
                f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.3f}, "
                f"train acc {row['train_acc']:.3f}, test acc {row['test_acc']:.3f}"
            )
            print_fn(f"{row['examples_per_sec']:.1f} examples/sec on {device}")

    return EpochReporter()


def make_nan_guard() -> Any:
    """Keras's `TerminateOnNaN`, remembering where it stopped (`stopped_epoch`, `stopped_at`)."""
    import keras

    class StopOnNaN(keras.callbacks.TerminateOnNaN):
        """Keras's `TerminateOnNaN`, remembering why so the run can say so."""

        stopped_at: int | None = None
        stopped_epoch: int | None = None
        _epoch = 0

        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._epoch = epoch

        def on_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
            super().on_batch_end(batch, logs)
            if self.model.stop_training and self.stopped_at is None:
                # Keras still ends the epoch (and the reporter adds its row),
                # so the epoch is remembered here, not counted from the history.
                self.stopped_at, self.stopped_epoch = batch, self._epoch + 1

    return StopOnNaN()


def make_epoch_keeper(
    epoch_var: Any,
    steps: int,
    history: list[dict[str, float]],
    save: Callable[[], None] | None,
    persist_history: Callable[[list[dict[str, float]]], None] | None,
) -> Any:
    """Feeds the pipeline its epoch and saves the resume state after each epoch.

    The training pipeline reads `epoch_var` when Keras starts iterating it,
    which is after `on_epoch_begin` for the first epoch and right after the
    last batch of the previous one for the others: both set it.

    Args:
        epoch_var: The pipeline's epoch variable (also checkpointed).
        steps: Batches per epoch.
        history: The rows so far (the reporter's list).
        save: Saves the checkpoint; `None` when nothing is saved.
        persist_history: Saves `history` with the checkpoint; `None` when
            this process keeps no history.
    """
    import keras

    class EpochKeeper(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping | None = None) -> None:
            self._epoch = epoch
            epoch_var.assign(epoch)

        def on_train_batch_end(self, batch: int, logs: Mapping | None = None) -> None:
            if batch >= steps - 1:
                epoch_var.assign(self._epoch + 1)

        def on_epoch_end(self, epoch: int, logs: Mapping | None = None) -> None:
            epoch_var.assign(epoch + 1)
            if self.model.stop_training:
                return  # a diverged epoch is not a resume point
            # History first: a kill between the two leaves a row that the
            # resumed run drops (it keeps as many rows as finished epochs).
            if persist_history is not None:
                persist_history(history)
            if save is not None:
                save()

    return EpochKeeper()
