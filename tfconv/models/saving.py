"""Loading a saved `.keras` model the one way every command does.

Keras's safe mode (no arbitrary code from the file), tfconv's layers
registered, not compiled, and one clear error for a file that is not a model.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import keras

import tfconv.layers  # noqa: F401  (registers tfconv's layer classes with Keras)


def load_model_file(model_file: str | os.PathLike, received: str | None = None) -> Any:
    """Loads a `.keras` file in Keras's safe mode, without compiling it.

    Args:
        model_file: The `.keras` file.
        received: The `name=value` the error messages end with (what the user
            passed, e.g. `"model='runs/a'"`); defaults to `model=<model_file>`.

    Returns:
        The Keras model.

    Raises:
        ValueError: If the file is not a Keras model or cannot be loaded.
    """
    model_file = Path(model_file)
    received = received or f"model={os.fspath(model_file)!r}"
    if not zipfile.is_zipfile(model_file):
        raise ValueError(
            f"{model_file} is not a Keras model (a .keras file is a zip archive). "
            f"Received: {received}"
        )
    try:
        return keras.saving.load_model(model_file, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many types for a file that is not a model.
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise ValueError(
            f"Cannot load {model_file} as a Keras model ({type(err).__name__}: {first_line}). "
            f"Received: {received}"
        ) from None
