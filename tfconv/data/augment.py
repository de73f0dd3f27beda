"""Light training augmentation: a random horizontal flip and shifts of up to 2 pixels per image."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfconv.data.info import IMAGE_SIZE

_MAX_SHIFT = 2


def augment_batch(images: Any, seed: Any, flip: bool) -> tf.Tensor:
    """Flips (if `flip`) and shifts each image of a batch, one draw per image.

    Only moves pixels (no resampling) and pads with zeros, so it gives the
    same bits before or after the elementwise `scale_pixels`.

    Args:
        images: A `(B, 28, 28, C)` batch, any dtype.
        seed: A stateless key, shape `(2,)`.
        flip: Whether to flip half the images horizontally (not for digits).

    Returns:
        The augmented batch, same shape and dtype.
    """
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    if flip:
        coin = tf.random.stateless_uniform([batch], seed=seeds[0]) < 0.5
        images = tf.where(coin[:, None, None, None], tf.reverse(images, axis=[2]), images)
    pad = _MAX_SHIFT
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    shifts = tf.random.stateless_uniform(
        [batch, 2], seed=seeds[1], minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    # A per-image crop as two batched gathers: exact and vectorised, no resampling.
    base = tf.range(IMAGE_SIZE, dtype=tf.int32)[None, :]
    rows = base + shifts[:, :1]
    cols = base + shifts[:, 1:]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)
