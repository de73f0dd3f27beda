"""tfconv: the Convolutional Neural Networks chapter of *Dive into Deep Learning*
as TensorFlow 2 / Keras 3 software.

Submodules are imported on first use so that `import tfconv` stays cheap:
`tfconv.ops`, `tfconv.layers`, `tfconv.data`, `tfconv.models`, `tfconv.train`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("ops", "layers", "data", "models", "train", "export", "tune", "viz", "cli")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"tfconv.{name}")
    raise AttributeError(f"module 'tfconv' has no attribute {name!r}")
