"""Turning the book's array arguments into tensors, and the checks the ops share.

Inputs may be NumPy arrays, nested lists or tensors; integer inputs are
computed in `float32`, floating inputs keep their dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

ArrayLike = Any


def result_dtype(*arrays: ArrayLike) -> tf.DType:
    """The floating dtype the computation runs in.

    The widest floating dtype among the inputs; `float32` when none of them is
    floating (ints, bools, lists of ints) or when two 16-bit formats meet.
    """
    floats = []
    for a in arrays:
        if isinstance(a, (tf.Tensor, tf.Variable)):
            dtype = tf.as_dtype(a.dtype)
        elif isinstance(a, np.ndarray | np.generic):
            dtype = tf.as_dtype(a.dtype) if a.dtype.kind == "f" else None
        else:
            dtype = None  # Python scalars and lists: float32 by default.
        if dtype is not None and dtype.is_floating:
            floats.append(dtype)
    if not floats:
        return tf.float32
    widest = max(d.size for d in floats)
    candidates = {d for d in floats if d.size == widest}
    return candidates.pop() if len(candidates) == 1 else tf.float32


def as_tensor(
    value: ArrayLike, name: str, dtype: tf.DType, rank: int | tuple[int, ...]
) -> tf.Tensor:
    """Converts `value` to a `dtype` tensor of the given rank(s), or raises."""
    try:
        if isinstance(value, (tf.Tensor, tf.Variable)):
            if not (value.dtype.is_floating or value.dtype.is_integer or value.dtype.is_bool):
                raise TypeError(f"unsupported dtype {value.dtype.name}")
            tensor = tf.cast(value, dtype)
        else:
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise TypeError(f"unsupported dtype {array.dtype}")
            tensor = tf.constant(array.astype(dtype.as_numpy_dtype, copy=False))
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be a real-valued array or tensor ({err}). "
            f"Received: {name}={value!r:.200}"
        ) from None
    ranks = (rank,) if isinstance(rank, int) else rank
    if tensor.shape.rank not in ranks:
        wanted = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(
            f"`{name}` must be a {wanted} array. "
            f"Received: {name}.shape={tuple(tensor.shape.as_list())}"
        )
    if any(d is None for d in tensor.shape):
        raise ValueError(
            f"`{name}` needs a fully known static shape. "
            f"Received: {name}.shape={tuple(tensor.shape.as_list())}"
        )
    return tensor


def check_fits(
    X: tf.Tensor, K: tf.Tensor, input_hw: tuple[int, int], kernel_hw: tuple[int, int]
) -> None:
    if min(kernel_hw) < 1:
        raise ValueError(
            f"The kernel `K` must be at least 1x1. Received: K.shape={tuple(K.shape.as_list())}"
        )
    if kernel_hw[0] > input_hw[0] or kernel_hw[1] > input_hw[1]:
        raise ValueError(
            f"The kernel `K` (window {tuple(kernel_hw)}) must fit inside the input `X` "
            f"(spatial size {tuple(input_hw)}). "
            f"Received: K.shape={tuple(K.shape.as_list())}, X.shape={tuple(X.shape.as_list())}"
        )


def check_channels(X: tf.Tensor, K: tf.Tensor, x_axis: int, k_axis: int) -> None:
    if X.shape[x_axis] != K.shape[k_axis]:
        raise ValueError(
            f"`X` has {X.shape[x_axis]} input channels but `K` expects {K.shape[k_axis]}. "
            f"Received: X.shape={tuple(X.shape.as_list())}, K.shape={tuple(K.shape.as_list())}"
        )
