"""What a run trains with: precision, distribution strategy, optimizer, the one compile call."""

from __future__ import annotations

import os
from typing import Any

from tfconv.train.config import PRECISIONS, STRATEGIES
from tfconv.utils.checks import check_choice


def resolve_precision(precision: str) -> str:
    """Maps `"auto"` to `mixed_float16` on a capable GPU, `float32` elsewhere.

    Args:
        precision: One of `PRECISIONS`.

    Returns:
        The Keras dtype policy name.
    """
    import tensorflow as tf

    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= (7, 0):
            return "mixed_float16"
    # On CPU, mixed precision is slower than float32 (no float16 arithmetic units).
    return "float32"


def make_strategy(name: str) -> Any:
    """The `tf.distribute` strategy for `"default"`, `"mirrored"` or `"multiworker"`.

    Raises:
        ValueError: An unknown name, or `"multiworker"` without `TF_CONFIG`.
    """
    import tensorflow as tf

    check_choice("strategy", name, STRATEGIES)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "`strategy='multiworker'` needs the TF_CONFIG environment variable "
                "(cluster and task). Received: strategy='multiworker'"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def make_optimizer(
    name: str,
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    decay_steps: int | None = None,
) -> Any:
    """A Keras optimizer by name, with a constant or cosine-decayed learning rate.

    Args:
        name: `"sgd"`, `"adam"` or `"adamw"`.
        lr: (Initial) learning rate.
        momentum: SGD momentum.
        weight_decay: AdamW's decoupled weight decay.
        schedule: `"constant"` or `"cosine"` (decay to 0 over `decay_steps`).
        decay_steps: Steps of the whole run, needed for `"cosine"`.
    """
    import keras

    rate: Any = lr
    if schedule == "cosine":
        if not decay_steps:
            raise ValueError(
                "A cosine schedule needs the run's length. Received: decay_steps=None"
            )
        rate = keras.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps)
    elif schedule != "constant":
        raise ValueError(
            f"`schedule` must be 'constant' or 'cosine'. Received: schedule={schedule!r}"
        )
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=momentum)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer. Received: optimizer={name!r}")


def compile_model(
    model: Any,
    optimizer: Any,
    *,
    metrics: bool = True,
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
) -> Any:
    """Compiles `model` the one way tfconv trains: sparse cross-entropy on logits.

    Args:
        model: A Keras model whose outputs are logits.
        optimizer: A Keras optimizer (`make_optimizer`).
        metrics: Whether to track accuracy (benchmarks that time steps don't).
        jit_compile: Keras's `jit_compile` (`"auto"`, `True` or `False`).
        steps_per_execution: Batches per compiled call.

    Returns:
        `model`, compiled.
    """
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"] if metrics else None,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model
