"""The errors an export raises when a model cannot become a working file."""

from __future__ import annotations

from collections.abc import Sequence


class ExportError(RuntimeError):
    """The model could not be converted or the exported file is unusable."""


class UnsupportedOpError(ExportError):
    """The model needs ops that TFLite's builtin op set lacks.

    Attributes:
        ops: Names of the offending TensorFlow ops, e.g. `["ExtractImagePatches"]`.
    """

    def __init__(self, message: str, ops: Sequence[str]) -> None:
        super().__init__(message)
        self.ops = list(ops)
