"""`fit_custom_loop`: Keras's `fit` as a custom loop, for `MultiWorkerMirroredStrategy`."""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_custom_loop(
    model: Any,
    strategy: Any,
    pipes: Any,
    epochs: int,
    callbacks: list[Any],
    initial_epoch: int = 0,
) -> None:
    """`model.fit` for `MultiWorkerMirroredStrategy`, as a custom training loop.

    Keras 3's `fit` fails under the collective strategy (it reduces an
    `(x, y)` batch with `strategy.reduce`; keras-team/keras#20585), so this
    loop does the same job with `strategy.run` and drives the same callbacks
    (progress bar, NaN guard, epoch reporter, the resume state's keeper,
    TensorBoard) through Keras's `CallbackList`, from `initial_epoch` on.

    Args:
        model: A compiled model, built under `strategy`.
        strategy: The `tf.distribute` strategy.
        pipes: `tfconv.data.pipelines(...)`: `train`, `test`, `batch_size`
            (global) and `steps_per_epoch`.
        epochs: The run's epochs.
        callbacks: Keras callbacks.
        initial_epoch: The first epoch to run (a resumed run's).
    """
    import keras

    train_step, test_step = _make_steps(model, strategy, pipes.batch_size)
    train_data = strategy.experimental_distribute_dataset(pipes.train)
    test_data = strategy.experimental_distribute_dataset(pipes.test)
    cb = keras.callbacks.CallbackList(
        callbacks, model=model, epochs=epochs, steps=pipes.steps_per_epoch, verbose=1
    )
    model.stop_training = False
    cb.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        cb.on_epoch_begin(epoch)  # sets the pipeline's epoch before `iter` below
        logs = _train_epoch(model, train_step, train_data, cb)
        if model.stop_training:
            break
        logs.update(_evaluate(test_step, test_data, cb))
        cb.on_epoch_end(epoch, logs)
    cb.on_train_end()


def _make_steps(model: Any, strategy: Any, global_batch: int) -> tuple[Any, Any]:
    """The distributed train and test steps; each returns (loss sum, correct, count)."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)

    @tf.function
    def train_step(x, y):
        def step(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = loss_fn(y, logits)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses or [0.0]))
                scaled = model.optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return _sums(per_example, logits, y)

        return _reduce(strategy, strategy.run(step, args=(x, y)))

    @tf.function
    def test_step(x, y):
        def step(x, y):
            logits = model(x, training=False)
            return _sums(loss_fn(y, logits), logits, y)

        return _reduce(strategy, strategy.run(step, args=(x, y)))

    return train_step, test_step


def _train_epoch(model: Any, train_step: Any, train_data: Any, cb: Any) -> dict[str, float]:
    """One pass over the training data; the running loss and accuracy as logs."""
    totals = np.zeros(3)
    logs: dict[str, float] = {}
    for step, (x, y) in enumerate(train_data):
        totals += [float(v) for v in train_step(x, y)]
        logs = {"loss": totals[0] / totals[2], "accuracy": totals[1] / totals[2]}
        cb.on_train_batch_end(step, logs)
        if model.stop_training:
            break
    return logs


def _evaluate(test_step: Any, test_data: Any, cb: Any) -> dict[str, float]:
    """One pass over the test data; its loss and accuracy as `val_` logs."""
    cb.on_test_begin()
    val = np.zeros(3)
    for x, y in test_data:
        val += [float(v) for v in test_step(x, y)]
    cb.on_test_end()
    return {"val_loss": val[0] / val[2], "val_accuracy": val[1] / val[2]}


def _sums(per_example_loss: Any, logits: Any, labels: Any) -> tuple[Any, Any, Any]:
    import tensorflow as tf

    predicted = tf.cast(tf.argmax(logits, axis=-1), labels.dtype)
    correct = tf.reduce_sum(tf.cast(tf.equal(predicted, labels), tf.float32))
    count = tf.cast(tf.size(labels), tf.float32)
    return tf.reduce_sum(tf.cast(per_example_loss, tf.float32)), correct, count


def _reduce(strategy: Any, values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(strategy.reduce("SUM", v, axis=None) for v in values)
