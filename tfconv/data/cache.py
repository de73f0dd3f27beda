"""Reads a dataset's files into checked, read-only arrays, cached by path, mtime and size."""

from __future__ import annotations

import functools
import os
import zlib
from pathlib import Path

import numpy as np

from tfconv.data.idx import read_idx
from tfconv.data.info import IMAGE_SIZE, Arrays, DatasetInfo, PathLike

_SPLIT_FILES = ("train_images", "train_labels", "test_images", "test_labels")
_NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _data_error(path: PathLike, problem: str) -> ValueError:
    return ValueError(f"Invalid dataset file {os.fspath(path)}: {problem}. Received: path={path}")


def check_split(
    images: np.ndarray,
    labels: np.ndarray,
    images_path: PathLike,
    labels_path: PathLike,
    num_classes: int,
) -> None:
    """Raises a `ValueError` naming the file unless images and labels make one split."""
    if images.dtype != np.uint8:
        raise _data_error(images_path, f"images must be uint8, got {images.dtype}")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise _data_error(
            images_path,
            f"expected images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {images.shape}",
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise _data_error(
            labels_path,
            f"expected a 1-D uint8 label vector, got shape {labels.shape} of {labels.dtype}",
        )
    if len(images) != len(labels):
        raise _data_error(
            labels_path,
            f"{len(labels)} labels but {len(images)} images in {os.fspath(images_path)}",
        )
    if labels.size and labels.max() >= num_classes:
        bad = np.flatnonzero(labels >= num_classes)
        raise _data_error(
            labels_path,
            f"labels must be in 0-{num_classes - 1}; {bad.size} are not, the first is"
            f" {int(labels[bad[0]])} at index {int(bad[0])}",
        )


def _freeze(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


def file_key(path: Path) -> tuple[str, int, int]:
    """The cache key of one file: its resolved path, mtime and size."""
    resolved = path.resolve()
    st = resolved.stat()
    return (str(resolved), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)
def _read_idx_split_cached(key: tuple[tuple[str, int, int], ...], num_classes: int) -> Arrays:
    # The key carries mtime and size so a replaced file is re-read; the cached
    # arrays are read-only and `load` hands out copies.
    paths = [k[0] for k in key]
    arrays = [read_idx(p) for p in paths]
    check_split(arrays[0], arrays[1], paths[0], paths[1], num_classes)
    check_split(arrays[2], arrays[3], paths[2], paths[3], num_classes)
    x_tr, y_tr, x_te, y_te = _freeze(*arrays)
    return (x_tr, y_tr), (x_te, y_te)


def read_idx_split(files: dict[str, Path], info: DatasetInfo) -> Arrays:
    """The four IDX files of `info`'s train and test splits, read once and then cached."""
    key = tuple(file_key(files[k]) for k in _SPLIT_FILES)
    return _read_idx_split_cached(key, info.num_classes)


@functools.lru_cache(maxsize=2)
def _read_npz_cached(key: tuple[str, int, int], num_classes: int) -> Arrays:
    path = key[0]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _NPZ_ARRAYS}
    except KeyError as e:
        raise _data_error(
            path, f"missing array {e} (need x_train, y_train, x_test, y_test)"
        ) from e
    except (OSError, EOFError, zlib.error) as e:
        raise _data_error(path, f"not a readable .npz archive ({type(e).__name__}: {e})") from e
    except ValueError as e:
        raise _data_error(path, f"not a readable .npz archive ({e})") from e
    check_split(arrays["x_train"], arrays["y_train"], path, path, num_classes)
    check_split(arrays["x_test"], arrays["y_test"], path, path, num_classes)
    x_tr, y_tr, x_te, y_te = _freeze(*arrays.values())
    return (x_tr, y_tr), (x_te, y_te)


def read_npz(path: Path, info: DatasetInfo) -> Arrays:
    """A Keras `.npz` archive of both splits, read once and then cached."""
    return _read_npz_cached(file_key(path), info.num_classes)


def clear_cache() -> None:
    """Forgets the arrays that `load` keeps in memory between calls."""
    _read_idx_split_cached.cache_clear()
    _read_npz_cached.cache_clear()
