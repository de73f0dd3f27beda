"""tfconv: the Convolutional Neural Networks chapter of *Dive into Deep Learning*
as TensorFlow 2 / Keras 3 software.

Submodules are imported on first use so that `import tfconv` stays cheap:
`tfconv.ops`, `tfconv.layers`, `tfconv.models`, `tfconv.data`, `tfconv.train`,
`tfconv.tune`, `tfconv.export`, `tfconv.viz`, `tfconv.chapter`, `tfconv.bench`
and `tfconv.cli` (README's "Layout" draws how they depend on each other).

`import tfconv` still makes tfconv's `.keras` files loadable with plain
`keras.saving.load_model`: tfconv's serializable layers are registered with
Keras as soon as Keras is imported (at once if it already is), without
importing Keras (seconds) when only the command line's `--help` is wanted.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "ops",
    "layers",
    "data",
    "models",
    "train",
    "export",
    "tune",
    "viz",
    "chapter",
    "bench",
    "cli",
)


class BackendError(ImportError):
    """Keras runs on a backend other than TensorFlow, which tfconv's layers need."""


def require_tensorflow_backend() -> None:
    """Raises `BackendError` unless Keras imports and runs on TensorFlow.

    tfconv's layers and ops are TensorFlow code; under the JAX, PyTorch or
    NumPy backend they would fail deep inside a model call instead.
    """
    try:
        import keras
    except ImportError as err:
        raise BackendError(
            f"Keras cannot be imported ({err}); tfconv needs Keras on the TensorFlow backend: "
            "unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow."
        ) from None
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise BackendError(
            f"tfconv needs Keras's TensorFlow backend, but Keras runs on {backend!r} "
            "(KERAS_BACKEND or ~/.keras/keras.json): set KERAS_BACKEND=tensorflow. "
            f"Received: backend={backend!r}"
        )


def _register_with_keras() -> None:
    # Defining the classes registers them (`register_keras_serializable`);
    # every serializable class tfconv has lives in `tfconv.layers`, so the
    # models, data and training code need not load with Keras.
    # A failure here must not break the user's `import keras`: under another
    # backend the same error is raised, clearly, when tfconv is used.
    with contextlib.suppress(Exception):
        importlib.import_module("tfconv.layers")


class _RegisterWhenKerasLoads(importlib.abc.MetaPathFinder):
    """An import hook: runs `_register_with_keras` once `keras` has loaded.

    It stays installed until Keras actually executes: a bare
    `importlib.util.find_spec("keras")` (TensorFlow makes one) loads nothing.
    """

    _busy = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "keras" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self._busy = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: Any) -> None:
            run_module(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_with_keras()

        loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_with_keras()
elif not any(isinstance(f, _RegisterWhenKerasLoads) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenKerasLoads())


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"tfconv.{name}")
    raise AttributeError(f"module 'tfconv' has no attribute {name!r}")
