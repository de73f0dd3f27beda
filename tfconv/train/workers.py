"""Coordination between the workers of a multi-worker run: who writes, and agreeing on values."""

from __future__ import annotations

from typing import Any


def is_chief(strategy: Any) -> bool:
    """True on the worker that writes outputs (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
    )


def agree_with_chief(strategy: Any, chief: bool, value: int) -> int:
    """The chief's `value` on every worker (a collective: also a barrier)."""
    import tensorflow as tf

    local = tf.constant(float(value if chief else 0), tf.float32)
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    return round(float(total))


def all_equal(strategy: Any, value: int) -> bool:
    """Whether every worker holds the same `value` (a collective)."""
    import tensorflow as tf

    n = strategy.num_replicas_in_sync
    local = tf.constant([float(value), float(value) ** 2], tf.float32)
    total = strategy.reduce("SUM", strategy.run(lambda: tf.identity(local)), axis=None)
    s, s2 = (float(v) for v in total.numpy())
    # n * sum(v^2) == sum(v)^2 exactly when all n values are equal.
    return abs(n * s2 - s * s) < 0.5
