"""`pipelines`: a dataset as batched, scaled `tf.data` datasets for training and evaluation."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfconv.data.augment import augment_batch
from tfconv.data.epochs import augment_key, epoch_source, permuted_batches, shuffled_batches
from tfconv.data.info import DatasetInfo, PathLike, Source, get_info
from tfconv.data.loading import load
from tfconv.layers.pixel_scaling import scale_pixels
from tfconv.utils.checks import check_int, check_number

# The validation split must not move when the shuffle seed changes (the tuner
# compares trials on it), so it uses its own fixed seed.
_SPLIT_SEED = 20170831


class Pipelines(NamedTuple):
    """The datasets built by `pipelines`, with the sizes Keras's `fit` wants.

    Attributes:
        train: Shuffled (and optionally augmented) training batches.
        test: Test batches in file order.
        val: Validation batches (carved from the training set), or `None`.
        info: The dataset's `DatasetInfo`.
        num_train: Examples in `train`.
        num_test: Examples in `test`.
        num_val: Examples in `val` (0 without a validation split).
        batch_size: The batch size.
        steps_per_epoch: Batches in one pass over `train`.
    """

    train: Any
    test: Any
    val: Any
    info: DatasetInfo
    num_train: int
    num_test: int
    num_val: int
    batch_size: int
    steps_per_epoch: int


def pipelines(
    name: str,
    batch_size: int,
    *,
    data_dir: PathLike | None = None,
    source: Source = "auto",
    standardize: bool = False,
    augment: bool | str = False,
    seed: int = 0,
    deterministic: bool = False,
    shuffle_buffer: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    validation_split: float = 0.0,
    cache: bool = True,
    drop_remainder: bool = False,
    epoch: Any = None,
) -> Pipelines:
    """Builds batched `tf.data` pipelines for training and evaluation.

    Each element is `(images, labels)`: float32 images of shape `(B, 28, 28, 1)`
    scaled to [0, 1] (or standardised with the training set's mean and std)
    and int32 labels of shape `(B,)`. Nothing runs per example: each epoch
    draws one permutation of the training set, splits it into index batches
    and gathers whole uint8 batches from the arrays held in memory; scaling
    and augmentation then run once per batch. That keeps the pipeline's CPU
    cost a small fraction of a training epoch.

    Args:
        name: `"fashion_mnist"` or `"mnist"`.
        batch_size: Examples per batch.
        data_dir: Passed to `load`.
        source: Passed to `load`.
        standardize: Subtract the dataset mean and divide by its std instead of
            only scaling to [0, 1].
        augment: `True` or `"light"`: random horizontal flips (Fashion-MNIST
            only; a mirrored digit is a different digit) and random shifts of up
            to 2 pixels. Training set only.
        seed: Seeds the shuffle and the augmentation. Every epoch (every new
            iteration, or repetition under `repeat`) is reshuffled and holds
            each training example exactly once (but for a dropped remainder).
            Epoch e's order and augmentation are a pure function of
            `(seed, e)` (and of the batch's step within the epoch): the same
            in every process, in the same order with `deterministic=True`.
        deterministic: Make `tf.data` keep element order through parallel
            stages, so runs are reproducible (slightly slower). Without it,
            each epoch still holds the same batches, but they may arrive in
            a different order.
        shuffle_buffer: `None` (or any size of at least the training set) gives
            a uniform permutation each epoch. A smaller buffer falls back to
            `tf.data`'s element-wise `shuffle` with that buffer: only a
            partial shuffle, and several times the CPU cost per epoch.
        limit_train: Use only the first `limit_train` training examples.
        limit_test: Use only the first `limit_test` test examples.
        validation_split: Fraction of the (limited) training set held out as
            `val`: the last part of a permutation with a fixed seed, so the
            split does not depend on `seed`.
        cache: Cache the decoded examples in memory after the first epoch.
            Applies to the test and validation sets and to the element-wise
            shuffle path; the default training path gathers from the arrays
            already in memory, so it has nothing to cache.
        drop_remainder: Drop the last, smaller training batch (test and
            validation batches are always complete sets).
        epoch: Which epoch each new iteration of `train` is. `None`: the
            pipeline counts its own iterations (the first is epoch 0, then 1,
            ...). An int: always that epoch. An integer `tf.Variable`: its
            value when the iteration starts; a trainer that resumes sets it
            (`tfconv.train` does, so a resumed run sees the epochs an
            uninterrupted one would).

    Returns:
        A `Pipelines` tuple: `train`, `test`, `val` (or `None`), `info`, sizes.

    Example:

    >>> p = pipelines("fashion_mnist", 256, data_dir="../shared/data")  # doctest: +SKIP
    >>> model.fit(p.train, validation_data=p.test, epochs=10)  # doctest: +SKIP
    """
    info = get_info(name)
    batch_size = check_int("batch_size", batch_size)
    augment = _check_augment(augment)
    _check_limits(validation_split, limit_train, limit_test)
    (x_train, y_train), (x_test, y_test), val = _arrays(
        name, data_dir, source, limit_train, limit_test, validation_split
    )
    # (0, 1) skips the standardisation in `scale_pixels`.
    scaling = (info.mean, info.std) if standardize else (0.0, 1.0)
    steps = len(x_train) // batch_size if drop_remainder else math.ceil(len(x_train) / batch_size)
    batches, take = _training_batches(
        x_train, y_train, batch_size, seed, shuffle_buffer, cache, drop_remainder, epoch
    )
    to_inputs = functools.partial(
        _training_inputs, take=take, scaling=scaling, seed=seed, augment=augment, flip=info.flip_ok
    )
    return Pipelines(
        train=_training(batches, steps, to_inputs, deterministic),
        test=_evaluation(x_test, y_test, batch_size, cache, scaling),
        val=None if val is None else _evaluation(*val, batch_size, cache, scaling),
        info=info,
        num_train=len(x_train),
        num_test=len(x_test),
        num_val=0 if val is None else len(val[0]),
        batch_size=batch_size,
        steps_per_epoch=steps,
    )


def _check_augment(augment: Any) -> bool:
    if augment not in (False, True, "light", "none", None):
        raise ValueError(f"`augment` must be a bool or 'light'. Received: augment={augment!r}")
    return augment in (True, "light")


def _check_limits(
    validation_split: float, limit_train: int | None, limit_test: int | None
) -> None:
    check_number("validation_split", validation_split, 0, maximum=1, strict_max=True)
    for arg, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        if value is not None:
            check_int(arg, value)


def _arrays(
    name: str,
    data_dir: PathLike | None,
    source: Source,
    limit_train: int | None,
    limit_test: int | None,
    validation_split: float,
) -> tuple[tuple[Any, Any], tuple[Any, Any], tuple[Any, Any] | None]:
    """The (limited) training, test and validation arrays; no validation split gives `None`."""
    (x_train, y_train), (x_test, y_test) = load(name, data_dir=data_dir, source=source)
    x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    test = x_test[:limit_test], y_test[:limit_test]
    if validation_split == 0:
        return (x_train, y_train), test, None
    x_train, y_train, x_val, y_val = split_validation(x_train, y_train, validation_split)
    return (x_train, y_train), test, (x_val, y_val)


def split_validation(
    x: np.ndarray, y: np.ndarray, validation_split: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Holds out the last `validation_split` of a fixed-seed permutation.

    Returns:
        `(x_train, y_train, x_val, y_val)`.
    """
    n_val = round(len(x) * validation_split)
    if n_val < 1 or n_val >= len(x):
        raise ValueError(
            f"`validation_split` leaves an empty split of the {len(x)} training examples."
            f" Received: validation_split={validation_split}"
        )
    perm = np.random.default_rng(_SPLIT_SEED).permutation(len(x))
    train_idx, val_idx = perm[: len(x) - n_val], perm[len(x) - n_val :]
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _gather(indices: Any, *, images: tf.Tensor, labels: tf.Tensor) -> tuple[Any, Any]:
    return tf.gather(images, indices), tf.gather(labels, indices)


def _as_is(images: Any, labels: Any) -> tuple[Any, Any]:
    return images, labels


def _training_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle_buffer: int | None,
    cache: bool,
    drop_remainder: bool,
    epoch: Any,
) -> tuple[tf.data.Dataset, Callable[..., tuple[Any, Any]]]:
    """Each epoch's batches as `(batch..., epoch, step)`, and `take`: batch -> `(images, labels)`.

    The default path yields batches of indices, which `take` gathers from the
    arrays held in memory; a small `shuffle_buffer` yields uint8 images and
    labels, which `take` passes on as they are.
    """
    epochs = epoch_source(epoch)
    if shuffle_buffer and shuffle_buffer < len(x):
        batches = shuffled_batches(
            x, y, batch_size, drop_remainder, seed, shuffle_buffer, cache, epochs
        )
        return batches, _as_is
    # Pinned to the host: tf.data runs there, and a GPU copy would only be
    # gathered back from.
    with tf.device("/CPU:0"):
        images, labels = tf.constant(x), tf.constant(y)
    batches = permuted_batches(len(x), batch_size, drop_remainder, seed, epochs)
    return batches, functools.partial(_gather, images=images, labels=labels)


def _training_inputs(
    *element: Any,
    take: Callable[..., tuple[Any, Any]],
    scaling: tuple[float, float],
    seed: int,
    augment: bool,
    flip: bool,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One training batch as the model's inputs: taken, augmented if asked, scaled.

    Runs once per batch, inside the one parallel map of the training pipeline.
    """
    *batch, epoch, step = element
    images, labels = take(*batch)
    images = images[..., None]
    if augment:
        # A function of (seed, epoch, step): new draws every batch and epoch,
        # the same ones in every run and after a resume.
        images = augment_batch(images, augment_key(seed, epoch, step), flip)
    return scale_pixels(images, *scaling), tf.cast(labels, tf.int32)


def _training(
    batches: tf.data.Dataset, steps: int, to_inputs: Callable[..., Any], deterministic: bool
) -> tf.data.Dataset:
    """The training dataset: `batches` with their length declared, mapped to model inputs."""
    # `flat_map` hides the length; Keras needs it for progress bars and to
    # end an epoch without an out-of-data warning.
    train = batches.apply(tf.data.experimental.assert_cardinality(steps))
    train = train.map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    return train.prefetch(tf.data.AUTOTUNE).with_options(options)


def _evaluation_inputs(
    images: Any, labels: Any, *, scaling: tuple[float, float]
) -> tuple[tf.Tensor, tf.Tensor]:
    return scale_pixels(images[..., None], *scaling), tf.cast(labels, tf.int32)


def _evaluation(
    x: np.ndarray, y: np.ndarray, batch_size: int, cache: bool, scaling: tuple[float, float]
) -> tf.data.Dataset:
    """Test or validation batches, always in file order."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        ds = ds.cache()
    ds = ds.batch(batch_size)
    # Always in file order, so predictions line up with the labels from `load`.
    to_inputs = functools.partial(_evaluation_inputs, scaling=scaling)
    ds = ds.map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
