"""Shared pytest fixtures and helpers: the data folder, the Keras dtype policy,
and the environment of a `tfconv` child process."""

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


@pytest.fixture
def real_data(data_root, monkeypatch):
    """Points `TFCONV_DATA_DIR` at `data_root` for one test.

    Modules whose every test reads the data use it for all of them:
    `pytestmark = pytest.mark.usefixtures("real_data")`.
    """
    monkeypatch.setenv("TFCONV_DATA_DIR", str(data_root))


def child_env(data_root: Path) -> dict[str, str]:
    """The environment of a child `python`/`tfconv` process reading `data_root`.

    TensorFlow's start-up lines silenced, and no inherited `TF_CONFIG`, which
    would make the child a multi-worker cluster member.
    """
    env = dict(os.environ, TFCONV_DATA_DIR=str(data_root), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    return env
