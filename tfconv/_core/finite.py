"""Non-finite checks that send a fast conv path (banded, Winograd) to its exact fallback.

The fast paths multiply structural zeros or subtract transformed values, so
a NaN or Inf input would reach outputs Keras keeps finite; these checks are
what the fallbacks' `tf.cond`s branch on.
"""

from __future__ import annotations

import tensorflow as tf


def all_finite(*tensors: tf.Tensor) -> tf.Tensor:
    """Whether every value of `tensors` is finite (a scalar bool); for small tensors."""
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors])


def finite_sum(x: tf.Tensor) -> tf.Tensor:
    """Whether `x` is all finite, from one sum: any NaN or Inf makes it non-finite.

    One reduction, cheaper than `is_finite` and a second one. A sum that
    overflows reads as non-finite, which only costs a detour through the
    exact path, never a wrong result; float16 sums overflow too often for that.
    """
    if x.dtype == tf.float16:
        return tf.reduce_all(tf.math.is_finite(x))
    return tf.math.is_finite(tf.reduce_sum(x))
