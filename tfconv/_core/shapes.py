"""Shape arithmetic of a sliding window: argument normalisation, padding, output sizes.

Pure functions shared by layers, ops, the cost model and tests, so that they
agree on one formula (`dynamic_pads` is the one that takes tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from tfconv.utils.checks import is_int

Pads = tuple[tuple[int, int], tuple[int, int]]


def positive_int(value: Any, name: str) -> int:
    """`value` as an int if it is an integer >= 1 (not a bool)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return int(value)


def normalize_pair(value: Any, name: str, minimum: int = 1) -> tuple[int, int]:
    """Turns an int or a pair of ints into a validated `(h, w)` tuple."""
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(
            f"`{name}` must be an int or a tuple of 2 ints. Received: {name}={value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(
            f"`{name}` must be >= {minimum} along both axes. Received: {name}={value!r}"
        )
    return pair


def normalize_padding(padding: Any) -> str | Pads:
    """Validates a padding argument.

    Returns `"valid"`, `"same"` or explicit per-side zero padding
    `((top, bottom), (left, right))`. An int `p` pads `p` on every side and a
    pair `(p_h, p_w)` pads `p_h` above and below and `p_w` left and right, as
    the book's `padding` argument does.
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("valid", "same"):
            raise ValueError(
                "`padding` must be 'valid', 'same', an int or a tuple of 2 ints. "
                f"Received: padding={padding!r}"
            )
        return mode
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        flat = [v for p in padding for v in p]
        if len(flat) != 4 or not all(is_int(v) for v in flat):
            raise TypeError(
                "`padding` given per side must be ((top, bottom), (left, right)) ints. "
                f"Received: padding={padding!r}"
            )
        if min(flat) < 0:
            raise ValueError(f"`padding` must be non-negative. Received: padding={padding!r}")
        return ((int(flat[0]), int(flat[1])), (int(flat[2]), int(flat[3])))
    try:
        ph, pw = normalize_pair(padding, "padding", minimum=0)
    except TypeError:
        raise TypeError(
            "`padding` must be 'valid', 'same', an int or a tuple of 2 ints. "
            f"Received: padding={padding!r}"
        ) from None
    return ((ph, ph), (pw, pw))


def normalize_data_format(value: Any) -> str:
    """`"channels_last"` or `"channels_first"`; `None` means `keras.config.image_data_format()`."""
    if value is None:
        # Keras only here (a dependency, not a tfconv module): the core and
        # `tfconv.ops` import without it.
        import keras

        return keras.config.image_data_format()
    if isinstance(value, str) and value.lower() in ("channels_last", "channels_first"):
        return value.lower()
    raise ValueError(
        "`data_format` must be 'channels_last', 'channels_first' or None. "
        f"Received: data_format={value!r}"
    )


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's SAME split: the extra row or column goes after."""
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: str | Pads,
    input_hw: Sequence[int],
    kernel_hw: Sequence[int],
    strides: Sequence[int],
) -> Pads:
    """Per-side padding for a normalised `padding`, given the input size.

    `kernel_hw` is the effective (dilated) window extent.
    """
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return (
            same_pads(input_hw[0], kernel_hw[0], strides[0]),
            same_pads(input_hw[1], kernel_hw[1], strides[1]),
        )
    return padding  # type: ignore[return-value]


def output_length(n: int, k: int, pad_total: int, s: int) -> int:
    """The book's formula, floor((n - k + p_total + s) / s)."""
    return (n - k + pad_total + s) // s


def window_output_hw(
    input_hw: Sequence[int | None],
    kernel_hw: Sequence[int],
    strides: Sequence[int],
    padding: str | Pads,
    dilation: Sequence[int] = (1, 1),
) -> tuple[int | None, int | None]:
    """Output height and width of a sliding window; `None` stays `None`."""
    out = []
    for axis in range(2):
        n = input_hw[axis]
        if n is None:
            out.append(None)
            continue
        k = (kernel_hw[axis] - 1) * dilation[axis] + 1
        s = strides[axis]
        if padding == "same":
            out.append(-(-n // s))
        elif padding == "valid":
            out.append(output_length(n, k, 0, s))
        else:
            out.append(output_length(n, k, sum(padding[axis]), s))  # type: ignore[index]
    return out[0], out[1]


def dynamic_pads(n: Any, k: int, s: int, padding: str | Pads, axis: int) -> tuple[Any, Any]:
    """`resolve_padding` for one axis whose length `n` may be a tensor.

    SAME's split as in `same_pads`, written with `tf.maximum` and a ceiling
    division of non-negative lengths: the ops the shape-polymorphic paths
    export to TFLite with.
    """
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = tf.maximum(((n + s - 1) // s - 1) * s + k - n, 0)
        return total // 2, total - total // 2
    return padding[axis]  # type: ignore[index]
