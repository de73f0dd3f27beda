"""Which ops a `.tflite` file uses, and the checks that it needs only TFLite's
builtin ops and, for tfconv's models, none of its convolution or pooling kernels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tfconv.export.errors import ExportError, UnsupportedOpError
from tfconv.export.loading import all_layers


def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {
        code: name
        for name, code in vars(schema.BuiltinOperator).items()
        if not name.startswith("_") and isinstance(code, int)
    }


def tflite_ops(model_content: bytes) -> list[str]:
    """Names of the op codes a `.tflite` flatbuffer uses, sorted.

    Builtin ops have their TFLite names (`"CONV_2D"`, `"FULLY_CONNECTED"`);
    custom ops, Flex (select TF) ops among them, have their custom code
    (`"FlexExtractImagePatches"`), so a Flex op is easy to spot.

    Args:
        model_content: The bytes of a `.tflite` file.

    Returns:
        A sorted list of op names.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytearray(model_content), 0)
    names = _builtin_names()
    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in BuiltinCode; old files only set the deprecated one.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            ops.add(custom.decode() if custom else "CUSTOM")
        else:
            ops.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(ops)


# TFLite's convolution and pooling kernels, builtin and StableHLO, by name
# (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, CONV_3D, MAX_POOL_2D,
# AVERAGE_POOL_2D, L2_POOL_2D, STABLEHLO_CONVOLUTION, REDUCE_WINDOW, ...).
_WINDOW_OP = re.compile(r"CONV(?!ERT)|POOL|REDUCE_WINDOW")


def window_ops(ops: Sequence[str]) -> list[str]:
    """The convolution and pooling kernels among TFLite op names (see `tflite_ops`).

    tfconv's layers convert to GATHER, FULLY_CONNECTED, PAD, SPLIT, MAXIMUM
    and friends, never to these: a file of tfconv layers that has one was not
    computed by tfconv's own math.

    Args:
        ops: Op names, e.g. `tflite_ops(content)` or a report's `"ops"`.

    Returns:
        Those of `ops` that are convolution or pooling kernels.
    """
    return [op for op in ops if _WINDOW_OP.search(op)]


def check_builtin_ops(
    model_content: bytes, what: str = "The model", *, own_windows: bool = False
) -> list[str]:
    """Raises `UnsupportedOpError` if a `.tflite` file uses any non-builtin op.

    Flex (select TensorFlow) ops and custom ops both count as non-builtin: a
    stock LiteRT runtime cannot run them.

    Args:
        model_content: The bytes of a `.tflite` file.
        what: How the message names the model.
        own_windows: Also raise `ExportError` if the file uses a convolution or
            pooling kernel (see `window_ops`): set for models whose every
            convolution and pooling is one of tfconv's layers.

    Returns:
        The model's op names (see `tflite_ops`) when all are builtin.
    """
    ops = tflite_ops(model_content)
    if own_windows and window_ops(ops):
        raise ExportError(
            f"{what} uses TFLite's convolution or pooling kernels: "
            f"{', '.join(window_ops(ops))}. tfconv's layers must convert to their own "
            "gathers and matrix products."
        )
    builtin = set(_builtin_names().values()) - {"CUSTOM"}
    extra = [op for op in ops if op not in builtin]
    if extra:
        tf_ops = [op.removeprefix("Flex") for op in extra]
        raise UnsupportedOpError(
            f"{what} uses ops outside TFLite's builtin op set: {', '.join(extra)}. "
            "tfconv exports builtin ops only; replace the layer that uses "
            f"{', '.join(tf_ops)} with builtin-friendly ops.",
            tf_ops,
        )
    return ops


def own_windows(model: Any) -> bool:
    """Whether only tfconv's layers can have put a convolution or pooling into `model`.

    True when every layer is tfconv's or one of Keras's that is neither a
    convolution, a pooling nor a wrapper of arbitrary code.
    """
    for layer in all_layers(model):
        cls = type(layer)
        if cls.__module__.startswith("tfconv."):
            continue
        if cls.__module__.startswith("keras.") and not re.search(
            r"Conv|Pool|Lambda|Wrapper|TFSM", cls.__name__
        ):
            continue
        return False
    return True
