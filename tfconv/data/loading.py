"""`load`: a dataset as uint8 NumPy arrays from the first source that has it, offline."""

from __future__ import annotations

import os
from pathlib import Path

from tfconv.data.info import (
    DATA_DIR_ENV,
    SOURCES,
    Arrays,
    DataNotFoundError,
    PathLike,
    Source,
    get_info,
)
from tfconv.data.sources import FINDERS, Search, not_found_message
from tfconv.utils.checks import check_choice


def load(
    name: str,
    data_dir: PathLike | None = None,
    source: Source = "auto",
    *,
    tfds_data_dir: PathLike | None = None,
) -> Arrays:
    """Loads a dataset as uint8 NumPy arrays, without network access by default.

    Args:
        name: `"fashion_mnist"` or `"mnist"`.
        data_dir: A folder holding the four official IDX files (gzip or raw),
            directly or in a `fashion-mnist/`, `fashion_mnist/` or `mnist/`
            subfolder. Without it, `$TFCONV_DATA_DIR` is used the same way.
            A folder named here is the only place read (with `source="auto"`
            or `"dir"`; `"tfds"` prepares from it): if it does not exist or
            lacks the files, `load` fails rather than read another copy. A
            `$TFCONV_DATA_DIR` that does not exist fails too; one that lacks
            the dataset lets `"auto"` go on to the next source.
        source: `"auto"` tries `"dir"`, `"keras"`, `"debian"` and `"tfds"` in that
            order; naming one uses only that one. Only `source="tfds"` (or
            `$TFCONV_ALLOW_DOWNLOAD=1`) lets tensorflow-datasets download.
        tfds_data_dir: Where tensorflow-datasets keeps prepared datasets
            (default: its own, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).

    Returns:
        `((x_train, y_train), (x_test, y_test))`: images of shape `(N, 28, 28)`
        and labels of shape `(N,)`, all uint8. The arrays are fresh copies;
        decoded files are cached in memory, so loading again is cheap. Every
        source but `"tfds"` keeps the official order; tensorflow-datasets
        stores the same examples in its own (hash-shuffled) order.

    Raises:
        ValueError: For an unknown `name` or `source`, or a file that is
            corrupt or inconsistent (the message names the file).
        DataNotFoundError: A `FileNotFoundError` when no source has the data;
            the message lists every place tried and how to get the files.

    Example:

    >>> (x, y), (x_test, y_test) = load("fashion_mnist", "../shared/data")  # doctest: +SKIP
    >>> x.shape, y[:3]  # doctest: +SKIP
    ((60000, 28, 28), array([9, 0, 0], dtype=uint8))
    """
    info = get_info(name)
    check_choice("source", source, ("auto", *SOURCES))
    _check_named_folders(data_dir)
    search = Search()
    for src in _sources_to_try(source, data_dir):
        result = FINDERS[src](
            info,
            data_dir=data_dir,
            search=search,
            explicit=source == src,
            tfds_data_dir=tfds_data_dir,
        )
        if result is not None:
            (x_tr, y_tr), (x_te, y_te) = result
            return (x_tr.copy(), y_tr.copy()), (x_te.copy(), y_te.copy())
    received = f"name={name!r}, data_dir={data_dir!r}, source={source!r}"
    raise DataNotFoundError(not_found_message(info, search, received)) from search.cause


def _check_named_folders(data_dir: PathLike | None) -> None:
    """Refuses a `data_dir` (or `$TFCONV_DATA_DIR`) that is not an existing folder."""
    # A path the user names is used or refused, never silently replaced by
    # another source's copy of the data.
    named = [("data_dir", data_dir)] if data_dir is not None else []
    if data_dir is None and os.environ.get(DATA_DIR_ENV):
        named.append((f"${DATA_DIR_ENV}", os.environ[DATA_DIR_ENV]))
    for label, folder in named:
        path = Path(folder).expanduser()
        if not path.is_dir():
            problem = "is not a folder" if path.exists() else "does not exist"
            raise DataNotFoundError(
                f"The data folder {os.fspath(folder)} given as {label} {problem}. "
                f"Received: {label.lstrip('$')}={os.fspath(folder)!r}"
            )


def _sources_to_try(source: str, data_dir: PathLike | None) -> tuple[str, ...]:
    """`source`, or all of `SOURCES` for `"auto"`; only `"dir"` when a `data_dir` is named."""
    if data_dir is None:
        return SOURCES if source == "auto" else (source,)
    if source in ("keras", "debian"):
        raise ValueError(
            f"`data_dir` is read by source 'dir' (or 'tfds', to prepare from), not by "
            f"{source!r}; drop one of them. Received: data_dir={os.fspath(data_dir)!r}, "
            f"source={source!r}"
        )
    return ("dir",) if source == "auto" else (source,)
