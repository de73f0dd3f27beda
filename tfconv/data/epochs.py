"""Which examples each training epoch holds, in which order: functions of `(seed, epoch)`.

A run resumed in a new process must see the same epochs, batches and
augmentation as an uninterrupted one, so every draw comes from a stateless
key folded from the seed, the epoch number and the batch's step.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from tfconv.utils.checks import check_int

# Stateless keys are `[seed, epoch]` folded with one of these, so the
# permutation and the augmentation of an epoch draw from separate streams.
_PERMUTATION_KEY = 0x7F4A7C15
_AUGMENT_KEY = 0x2545F491


def epoch_source(epoch: Any) -> tf.data.Dataset:
    """A one-element dataset holding the epoch number of each new iteration.

    Args:
        epoch: `None`: the pipeline counts its own iterations (the n-th is
            epoch n - 1). A `tf.Variable`: its value when the iteration
            starts (the caller sets it). An int: always that epoch.

    Returns:
        A dataset of one int64 scalar, re-evaluated on every iteration.
    """
    if epoch is None:
        # Created outside any distribution strategy scope: a plain host counter.
        with tf.init_scope(), tf.device("/CPU:0"):
            counter = tf.Variable(-1, dtype=tf.int64, trainable=False, name="epoch_counter")
        return tf.data.Dataset.from_tensors(0).map(lambda _: counter.assign_add(1))
    if isinstance(epoch, (int, np.integer)):
        return tf.data.Dataset.from_tensors(tf.constant(check_int("epoch", epoch, 0), tf.int64))
    if not hasattr(epoch, "read_value"):
        raise TypeError(
            f"`epoch` must be None, an int or an integer tf.Variable. Received: epoch={epoch!r}"
        )
    return tf.data.Dataset.from_tensors(0).map(lambda _: tf.cast(epoch.read_value(), tf.int64))


def _epoch_key(seed: int, epoch: Any, stream: int) -> tf.Tensor:
    base = tf.stack([tf.constant(seed, tf.int64), epoch])
    return tf.random.experimental.stateless_fold_in(base, stream)


def augment_key(seed: int, epoch: Any, step: Any) -> tf.Tensor:
    """The stateless key of one batch's augmentation: new every batch, same after a resume."""
    key = _epoch_key(seed, epoch, _AUGMENT_KEY)
    return tf.random.experimental.stateless_fold_in(key, step)


def _epoch_batches(
    epoch: Any, *, n: int, batch_size: int, drop_remainder: bool, seed: int
) -> tf.data.Dataset:
    """Epoch `epoch`'s permutation of `range(n)` as `(indices, epoch, step)` batches."""
    full, rest = divmod(n, batch_size)
    key = _epoch_key(seed, epoch, _PERMUTATION_KEY)
    perm = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int32), seed=key)
    head = tf.reshape(perm[: full * batch_size], [full, batch_size])
    count = full + (1 if rest and not drop_remainder else 0)
    tags = (tf.fill([count], epoch), tf.range(count, dtype=tf.int64))
    batches = tf.data.Dataset.from_tensor_slices((head, tags[0][:full], tags[1][:full]))
    if count > full:
        batches = batches.concatenate(
            tf.data.Dataset.from_tensors((perm[full * batch_size :], epoch, tags[1][full]))
        )
    return batches


def permuted_batches(
    n: int, batch_size: int, drop_remainder: bool, seed: int, epochs: tf.data.Dataset
) -> tf.data.Dataset:
    """Index batches of each epoch's permutation of `range(n)`, as `(indices, epoch, step)`.

    The permutation is a pure function of `(seed, e)`: a run resumed in a new
    process sees the same epochs as an uninterrupted one. One permutation and
    one reshape per epoch replace shuffling and batching `n` single elements,
    which on the full training set cost more CPU than everything else in the
    pipeline.

    Args:
        n: Training examples.
        batch_size: Indices per batch.
        drop_remainder: Drop the last, smaller batch of each epoch.
        seed: The run's seed.
        epochs: `epoch_source`'s dataset.

    Returns:
        A dataset of `(int32 indices, int64 epoch, int64 step)` tuples.
    """
    return epochs.flat_map(
        functools.partial(
            _epoch_batches, n=n, batch_size=batch_size, drop_remainder=drop_remainder, seed=seed
        )
    )


def _with_epoch(epoch: Any, step: Any, batch: Any) -> tuple[Any, Any, Any, Any]:
    return batch[0], batch[1], epoch, step


def shuffled_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    drop_remainder: bool,
    seed: int,
    shuffle_buffer: int,
    cache: bool,
    epochs: tf.data.Dataset,
) -> tf.data.Dataset:
    """Batches from `tf.data`'s element-wise `shuffle`, as `(images, labels, epoch, step)`.

    A partial shuffle (a buffer smaller than the training set) can only be
    had element by element; its order comes from tf.data's seeded stream
    (reshuffled per iteration within a process), not from `(seed, epoch)`.
    """
    elements = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        elements = elements.cache()
    elements = elements.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    elements = elements.batch(batch_size, drop_remainder=drop_remainder)
    return epochs.flat_map(
        lambda epoch: elements.enumerate().map(functools.partial(_with_epoch, epoch))
    )
