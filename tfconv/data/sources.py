"""Where a dataset is looked for offline (one finder per source), and the message if nowhere."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfconv.data.cache import check_split, read_idx_split, read_npz
from tfconv.data.info import (
    ALLOW_DOWNLOAD_ENV,
    DATA_DIR_ENV,
    IMAGE_SIZE,
    Arrays,
    DatasetInfo,
    PathLike,
)

# Where Keras falls back to when `~/.keras` is not writable (see `keras.utils.get_file`).
KERAS_FALLBACK_HOME = Path("/tmp/.keras")


class Search:
    """What each source found or why it failed, for the final error message."""

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.cause: BaseException | None = None


def _find_file(folder: Path, fname: str) -> Path | None:
    # Accept decompressed copies too: read_idx sniffs the compression itself.
    for candidate in (fname, fname.removesuffix(".gz")):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def _locate(root: Path, info: DatasetInfo, subdirs: bool = True) -> tuple[dict | None, str]:
    """Finds the four files in `root` or its dataset-named subfolders."""
    folders = [root] + ([root / d for d in info.dir_names] if subdirs else [])
    partial = ""
    for folder in folders:
        if not folder.is_dir():
            continue
        found = {k: _find_file(folder, f) for k, f in info.files.items()}
        if all(found.values()):
            return found, str(folder)
        missing = [info.files[k] for k, v in found.items() if v is None]
        if len(missing) < len(found) and not partial:
            partial = f"{folder} lacks {', '.join(missing)}"
    shown = ", ".join(str(f) for f in folders)
    return None, partial or f"no {info.title} files in {shown}"


def dir_roots(data_dir: PathLike | None) -> list[tuple[str, Path]]:
    """The folders source `"dir"` reads, each with the name it was given by."""
    # A folder the caller names is the only one tried: used or refused.
    if data_dir is not None:
        return [("data_dir", Path(data_dir).expanduser())]
    roots = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append((f"${DATA_DIR_ENV}", Path(env).expanduser()))
    return roots


def _from_dir(
    info: DatasetInfo, data_dir: PathLike | None, search: Search, **_: Any
) -> Arrays | None:
    roots = dir_roots(data_dir)
    if not roots:
        search.tried.append(f"dir: no data_dir given and ${DATA_DIR_ENV} is not set")
        return None
    for label, root in roots:
        files, detail = _locate(root, info)
        if files is not None:
            return read_idx_split(files, info)
        search.tried.append(f"dir ({label}): {detail}")
    return None


def _keras_homes() -> list[Path]:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    homes = [Path(home).expanduser()]
    if KERAS_FALLBACK_HOME not in homes:
        homes.append(KERAS_FALLBACK_HOME)
    return homes


def _from_keras(info: DatasetInfo, search: Search, **_: Any) -> Arrays | None:
    for home in _keras_homes():
        datasets = home / "datasets"
        if info.keras_npz:
            npz = datasets / info.keras_npz
            if npz.is_file():
                return read_npz(npz, info)
            search.tried.append(f"keras: {npz} does not exist")
        files, detail = _locate(datasets, info)
        if files is not None:
            return read_idx_split(files, info)
        search.tried.append(f"keras: {detail}")
    return None


def _from_debian(info: DatasetInfo, search: Search, **_: Any) -> Arrays | None:
    if info.debian_dir is None:
        search.tried.append(f"debian: no Debian package ships {info.title}")
        return None
    files, detail = _locate(Path(info.debian_dir), info, subdirs=False)
    if files is not None:
        return read_idx_split(files, info)
    search.tried.append(f"debian: {detail} (package {info.debian_package})")
    return None


def _allow_download() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def _manual_dir(info: DatasetInfo, data_dir: PathLike | None) -> Path | None:
    """A local folder tfds can prepare from: the official .gz names, as tfds checks them."""
    roots = [root for _, root in dir_roots(data_dir)]
    roots += [home / "datasets" for home in _keras_homes()]
    for root in roots:
        for folder in [root] + [root / d for d in info.dir_names]:
            if all((folder / f).is_file() for f in info.files.values()):
                return folder
    return None


def _tfds_load(
    tfds: Any, info: DatasetInfo, manual: Path | None, tfds_data_dir: PathLike | None
) -> Any:
    """Both splits as tensorflow-datasets holds them, prepared from `manual` if given."""
    config = {}
    if manual is not None:
        # Offline: tfds verifies the local files against its registered checksums.
        config = dict(manual_dir=os.fspath(manual), try_download_gcs=False)
    return tfds.as_numpy(
        tfds.load(
            info.tfds_name,
            split=["train", "test"],
            batch_size=-1,
            as_supervised=True,
            data_dir=tfds_data_dir,
            download_and_prepare_kwargs={
                "download_config": tfds.download.DownloadConfig(**config)
            },
        )
    )


def _from_tfds(
    info: DatasetInfo,
    data_dir: PathLike | None,
    search: Search,
    explicit: bool,
    tfds_data_dir: PathLike | None,
    **_: Any,
) -> Arrays | None:
    try:
        # Optional dependency: imported only when this source is tried.
        import tensorflow_datasets as tfds
    except ImportError as e:
        search.tried.append(f"tfds: tensorflow-datasets is not importable ({e})")
        return None
    builder = tfds.builder(info.tfds_name, data_dir=tfds_data_dir)
    manual = _manual_dir(info, data_dir)
    if not (builder.is_prepared() or manual or explicit or _allow_download()):
        search.tried.append(
            f"tfds: {info.tfds_name} is not prepared in {builder.data_dir_root} and no local"
            f" copy to prepare it from; download not attempted (pass source='tfds' or set"
            f" {ALLOW_DOWNLOAD_ENV}=1)"
        )
        return None
    try:
        (x_tr, y_tr), (x_te, y_te) = _tfds_load(tfds, info, manual, tfds_data_dir)
    except Exception as e:  # Any failure means "not available here"; the cause is chained.
        search.tried.append(f"tfds: loading {info.tfds_name} failed: {type(e).__name__}: {e}")
        search.cause = e
        return None
    # tfds keeps a channel axis and int64 labels; match the other sources.
    x_tr, x_te = (np.asarray(x).reshape(len(x), IMAGE_SIZE, IMAGE_SIZE) for x in (x_tr, x_te))
    y_tr, y_te = (np.asarray(y).astype(np.uint8) for y in (y_tr, y_te))
    where = f"tfds:{info.tfds_name}"
    check_split(x_tr, y_tr, where, where, info.num_classes)
    check_split(x_te, y_te, where, where, info.num_classes)
    return (x_tr, y_tr), (x_te, y_te)


FINDERS: dict[str, Callable[..., Arrays | None]] = {
    "dir": _from_dir,
    "keras": _from_keras,
    "debian": _from_debian,
    "tfds": _from_tfds,
}
"""One finder per source: returns the arrays, or `None` after noting in the `Search` why not."""


def not_found_message(info: DatasetInfo, search: Search, received: str) -> str:
    """Every place tried and every way to get the files, ending `Received: ...`."""
    files = ", ".join(info.files.values())
    lines = [f"Could not find the {info.title} dataset. Places tried:"]
    lines += [f"  - {t}" for t in search.tried]
    lines.append("To get the data, any one of:")
    if info.debian_package:
        lines.append(f"  - sudo apt-get install {info.debian_package}")
    lines += [
        f"  - put the four official files ({files}) in a folder DIR and pass"
        f" --data-dir DIR (CLI) or data_dir=DIR, or set {DATA_DIR_ENV}=DIR",
        f"  - with network access: python -c 'import keras;"
        f" keras.datasets.{info.name}.load_data()', or load(..., source='tfds'), or set"
        f" {ALLOW_DOWNLOAD_ENV}=1",
    ]
    return "\n".join(lines) + f"\nReceived: {received}"
