"""Fashion-MNIST and MNIST: IDX parsing, offline-first loading and `tf.data` pipelines.

Both datasets ship as four gzip-compressed IDX files (train/test images and
labels). `load` finds them without touching the network, trying in order:

1. `"dir"`: an explicit `data_dir`, then `$TFCONV_DATA_DIR`, each either holding the
   four files directly or in a `fashion-mnist/` (or `fashion_mnist/`) subfolder;
2. `"keras"`: the cache written by `keras.datasets.*.load_data()`;
3. `"debian"`: `/usr/share/datasets/fashion-mnist` (package `dataset-fashion-mnist`);
4. `"tfds"`: tensorflow-datasets, prepared offline from a local copy of the files
   where there is one; it downloads only when asked for explicitly
   (`source="tfds"`) or when `TFCONV_ALLOW_DOWNLOAD=1` is set.

`pipelines` turns the arrays into batched, scaled `tf.data` datasets.

Modules: `info` (the dataset registry), `idx` (the file format), `cache`
(checked, cached arrays), `sources` (where the files are looked for),
`loading` (`load`), `epochs` (each epoch's order, from `(seed, epoch)`),
`augment` (flips and shifts) and `pipeline` (`pipelines`).
"""

from __future__ import annotations

import importlib
from typing import Any

from tfconv.data.cache import clear_cache
from tfconv.data.idx import parse_idx, read_idx
from tfconv.data.info import (
    ALLOW_DOWNLOAD_ENV,
    CLASS_NAMES,
    DATA_DIR_ENV,
    DATASETS,
    IMAGE_SIZE,
    NUM_CLASSES,
    SOURCES,
    Arrays,
    DataNotFoundError,
    DatasetInfo,
    PathLike,
    Source,
    get_info,
)
from tfconv.data.loading import load
from tfconv.data.sources import KERAS_FALLBACK_HOME

# These need TensorFlow (seconds to import); the command line imports
# `SOURCES` from here to print its `--help` without it.
_PIPELINE_NAMES = ("Pipelines", "pipelines", "split_validation")
_TF_MODULES = ("augment", "epochs", "pipeline")

__all__ = [
    "ALLOW_DOWNLOAD_ENV",
    "CLASS_NAMES",
    "DATASETS",
    "DATA_DIR_ENV",
    "IMAGE_SIZE",
    "KERAS_FALLBACK_HOME",
    "NUM_CLASSES",
    "SOURCES",
    "Arrays",
    "DataNotFoundError",
    "DatasetInfo",
    "PathLike",
    "Pipelines",
    "Source",
    "clear_cache",
    "get_info",
    "load",
    "parse_idx",
    "pipelines",
    "read_idx",
    "split_validation",
]


def __getattr__(name: str) -> Any:
    if name in _PIPELINE_NAMES:
        return getattr(importlib.import_module("tfconv.data.pipeline"), name)
    if name in _TF_MODULES:
        return importlib.import_module(f"tfconv.data.{name}")
    raise AttributeError(f"module 'tfconv.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_PIPELINE_NAMES, *_TF_MODULES})
