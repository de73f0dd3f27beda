"""Shared pytest fixtures (kept minimal; other test modules may add theirs here)."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import pytest


@pytest.fixture
def dtype_policy(request):
    """Sets the global Keras dtype policy named by the (indirect) parameter.

    Always restores "float32" afterwards, even when the test fails, so that a
    mixed precision test cannot leak its policy into later tests.
    """
    keras.mixed_precision.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def shared_data_dir() -> Path:
    """`$TFCONV_DATA_DIR`, else `../shared/data` beside the checkout."""
    env = os.environ.get("TFCONV_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding `fashion-mnist/` and `mnist/` with the official IDX files.

    A missing folder fails the test (it is never skipped): CI always has it.
    """
    root = shared_data_dir()
    if not (root / "fashion-mnist").is_dir() or not (root / "mnist").is_dir():
        pytest.fail(
            f"The official Fashion-MNIST and MNIST files are not in {root}: set "
            "TFCONV_DATA_DIR to a folder holding fashion-mnist/ and mnist/."
        )
    return root
