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
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np

PathLike = str | os.PathLike
Source = Literal["auto", "dir", "keras", "debian", "tfds"]
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

SOURCES: tuple[str, ...] = ("dir", "keras", "debian", "tfds")
"""The places `load` can read from, in the order `source="auto"` tries them."""

DATA_DIR_ENV = "TFCONV_DATA_DIR"
ALLOW_DOWNLOAD_ENV = "TFCONV_ALLOW_DOWNLOAD"

# Where Keras falls back to when `~/.keras` is not writable (see `keras.utils.get_file`).
KERAS_FALLBACK_HOME = Path("/tmp/.keras")

IMAGE_SIZE = 28
NUM_CLASSES = 10

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"

# The validation split must not move when the shuffle seed changes (the tuner
# compares trials on it), so it uses its own fixed seed.
_SPLIT_SEED = 20170831


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static description of one dataset.

    Attributes:
        name: Registry key, e.g. `"fashion_mnist"`.
        title: Human-readable name.
        class_names: The 10 class names, indexed by label.
        files: Official file names, keyed by `"train_images"`, `"train_labels"`,
            `"test_images"`, `"test_labels"`.
        mean: Mean pixel value of the training images, scaled to [0, 1].
        std: Standard deviation of the training pixels, scaled to [0, 1].
        num_train: Size of the official training split.
        num_test: Size of the official test split.
        dir_names: Subfolder names looked for under a data directory.
        keras_npz: File name of the single-archive Keras cache, if Keras uses one.
        debian_dir: Where the Debian package installs the files, if there is one.
        debian_package: Name of that Debian package.
        tfds_name: Name in tensorflow-datasets.
        flip_ok: Whether horizontal flips preserve the label (not for digits).
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    files: MappingProxyType
    mean: float
    std: float
    num_train: int = 60_000
    num_test: int = 10_000
    dir_names: tuple[str, ...] = ()
    keras_npz: str | None = None
    debian_dir: str | None = None
    debian_package: str | None = None
    tfds_name: str = ""
    flip_ok: bool = True

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        return (IMAGE_SIZE, IMAGE_SIZE)


_OFFICIAL_FILES = MappingProxyType(
    {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
)

DATASETS: MappingProxyType = MappingProxyType(
    {
        "fashion_mnist": DatasetInfo(
            name="fashion_mnist",
            title="Fashion-MNIST",
            class_names=(
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ),
            files=_OFFICIAL_FILES,
            mean=0.2860405969887955,
            std=0.3530242445149226,
            dir_names=("fashion-mnist", "fashion_mnist"),
            debian_dir="/usr/share/datasets/fashion-mnist",
            debian_package="dataset-fashion-mnist",
            tfds_name="fashion_mnist",
            flip_ok=True,
        ),
        "mnist": DatasetInfo(
            name="mnist",
            title="MNIST",
            class_names=tuple(str(d) for d in range(10)),
            files=_OFFICIAL_FILES,
            mean=0.1306604762738429,
            std=0.30810780385646264,
            dir_names=("mnist",),
            keras_npz="mnist.npz",
            tfds_name="mnist",
            flip_ok=False,
        ),
    }
)
"""Registry of supported datasets, keyed by name."""

CLASS_NAMES: MappingProxyType = MappingProxyType(
    {name: info.class_names for name, info in DATASETS.items()}
)
"""Class names per dataset, indexed by label."""


class DataNotFoundError(FileNotFoundError):
    """Raised by `load` when no source holds the dataset; the message lists every place tried."""


def get_info(name: str) -> DatasetInfo:
    """Returns the `DatasetInfo` registered under `name`.

    Args:
        name: `"fashion_mnist"` or `"mnist"` (a dash instead of the underscore works too).

    Returns:
        The dataset's `DatasetInfo`.

    Example:

    >>> get_info("fashion_mnist").class_names[9]
    'Ankle boot'
    """
    key = name.replace("-", "_").lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(
            f"Unknown dataset. Expected one of {sorted(DATASETS)}. Received: name={name!r}"
        )
    return DATASETS[key]


# --------------------------------------------------------------------------
# IDX parsing
# --------------------------------------------------------------------------


def _idx_error(path: PathLike, problem: str) -> ValueError:
    return ValueError(f"Invalid IDX file {os.fspath(path)}: {problem}. Received: path={path}")


def parse_idx(data: bytes, path: PathLike = "<bytes>") -> np.ndarray:
    """Parses the (already decompressed) bytes of one IDX file.

    Args:
        data: The raw IDX bytes: magic, dimensions, then the payload.
        path: Used in error messages only.

    Returns:
        A writable array in native byte order with the shape the header declares.

    Example:

    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).tolist()
    [7, 9]
    """
    if len(data) < 4:
        raise _idx_error(path, f"file has {len(data)} bytes, fewer than the 4-byte magic number")
    if data[0] != 0 or data[1] != 0:
        raise _idx_error(
            path,
            f"wrong magic number 0x{data[:4].hex()}: an IDX file starts with two zero bytes"
            " (images 0x00000803, labels 0x00000801)",
        )
    dtype = _IDX_DTYPES.get(data[2])
    if dtype is None:
        raise _idx_error(
            path,
            f"unknown data type code 0x{data[2]:02x} in magic number 0x{data[:4].hex()}"
            f" (valid: {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})",
        )
    ndim = data[3]
    if ndim == 0:
        raise _idx_error(path, "magic number declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise _idx_error(
            path,
            f"truncated header: {ndim} dimensions need {header_size} header bytes,"
            f" the file has {len(data)}",
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # Python ints, so a hostile header cannot overflow the size computation.
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(data) < expected:
        raise _idx_error(
            path,
            f"truncated: header declares shape {shape} of {dtype.name}, i.e. {expected} bytes,"
            f" but the file has only {len(data)}",
        )
    if len(data) > expected:
        raise _idx_error(
            path,
            f"{len(data) - expected} bytes of trailing garbage after the {expected} bytes"
            f" that the header (shape {shape} of {dtype.name}) declares",
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    # astype copies, which makes the result writable and native-endian in one pass.
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike) -> np.ndarray:
    """Reads one IDX file, gzip-compressed or raw.

    Compression is detected from the gzip magic bytes (`1f 8b`), not the file
    name, so `foo.gz` holding raw IDX and `foo` holding gzip both work.

    Args:
        path: The file to read.

    Returns:
        A writable array with the shape and dtype the IDX header declares
        (uint8 for the image and label files of MNIST-style datasets).

    Raises:
        ValueError: On a wrong magic number, an unknown type code, a truncated
            file or trailing bytes, or a corrupt gzip stream; the message names
            the file and ends with `Received: path=...`.

    Example:

    >>> x = read_idx("../shared/data/mnist/t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> x.shape, x.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            # BadGzipFile is an OSError; a cut-off stream raises EOFError.
            raise _idx_error(path, f"corrupt gzip data ({type(e).__name__}: {e})") from e
    return parse_idx(data, path)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def _data_error(path: PathLike, problem: str) -> ValueError:
    return ValueError(f"Invalid dataset file {os.fspath(path)}: {problem}. Received: path={path}")


def _check_split(
    images: np.ndarray,
    labels: np.ndarray,
    images_path: PathLike,
    labels_path: PathLike,
    num_classes: int,
) -> None:
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


@functools.lru_cache(maxsize=4)
def _read_idx_split_cached(key: tuple[tuple[str, int, int], ...], num_classes: int) -> Arrays:
    # The key carries mtime and size so a replaced file is re-read; the cached
    # arrays are read-only and `load` hands out copies.
    paths = [k[0] for k in key]
    arrays = [read_idx(p) for p in paths]
    _check_split(arrays[0], arrays[1], paths[0], paths[1], num_classes)
    _check_split(arrays[2], arrays[3], paths[2], paths[3], num_classes)
    x_tr, y_tr, x_te, y_te = _freeze(*arrays)
    return (x_tr, y_tr), (x_te, y_te)


def _file_key(path: Path) -> tuple[str, int, int]:
    resolved = path.resolve()
    st = resolved.stat()
    return (str(resolved), st.st_mtime_ns, st.st_size)


def _read_idx_split(files: dict[str, Path], info: DatasetInfo) -> Arrays:
    order = ("train_images", "train_labels", "test_images", "test_labels")
    key = tuple(_file_key(files[k]) for k in order)
    return _read_idx_split_cached(key, info.num_classes)


@functools.lru_cache(maxsize=2)
def _read_npz_cached(key: tuple[str, int, int], num_classes: int) -> Arrays:
    path = key[0]
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except KeyError as e:
        raise _data_error(
            path, f"missing array {e} (need x_train, y_train, x_test, y_test)"
        ) from e
    except (OSError, EOFError, zlib.error) as e:
        raise _data_error(path, f"not a readable .npz archive ({type(e).__name__}: {e})") from e
    except ValueError as e:
        raise _data_error(path, f"not a readable .npz archive ({e})") from e
    _check_split(arrays["x_train"], arrays["y_train"], path, path, num_classes)
    _check_split(arrays["x_test"], arrays["y_test"], path, path, num_classes)
    x_tr, y_tr, x_te, y_te = _freeze(*arrays.values())
    return (x_tr, y_tr), (x_te, y_te)


def clear_cache() -> None:
    """Forgets the arrays that `load` keeps in memory between calls."""
    _read_idx_split_cached.cache_clear()
    _read_npz_cached.cache_clear()


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


class _Search:
    """What each source found or why it failed, for the final error message."""

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.cause: BaseException | None = None


def _dir_roots(data_dir: PathLike | None) -> list[tuple[str, Path]]:
    # A folder the caller names is the only one tried: used or refused.
    if data_dir is not None:
        return [("data_dir", Path(data_dir).expanduser())]
    roots = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append((f"${DATA_DIR_ENV}", Path(env).expanduser()))
    return roots


def _from_dir(info: DatasetInfo, data_dir: PathLike | None, search: _Search, **_: Any):
    roots = _dir_roots(data_dir)
    if not roots:
        search.tried.append(f"dir: no data_dir given and ${DATA_DIR_ENV} is not set")
        return None
    for label, root in roots:
        files, detail = _locate(root, info)
        if files is not None:
            return _read_idx_split(files, info)
        search.tried.append(f"dir ({label}): {detail}")
    return None


def _keras_homes() -> list[Path]:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    homes = [Path(home).expanduser()]
    if KERAS_FALLBACK_HOME not in homes:
        homes.append(KERAS_FALLBACK_HOME)
    return homes


def _from_keras(info: DatasetInfo, search: _Search, **_: Any):
    for home in _keras_homes():
        datasets = home / "datasets"
        if info.keras_npz:
            npz = datasets / info.keras_npz
            if npz.is_file():
                return _read_npz_cached(_file_key(npz), info.num_classes)
            search.tried.append(f"keras: {npz} does not exist")
        files, detail = _locate(datasets, info)
        if files is not None:
            return _read_idx_split(files, info)
        search.tried.append(f"keras: {detail}")
    return None


def _from_debian(info: DatasetInfo, search: _Search, **_: Any):
    if info.debian_dir is None:
        search.tried.append(f"debian: no Debian package ships {info.title}")
        return None
    files, detail = _locate(Path(info.debian_dir), info, subdirs=False)
    if files is not None:
        return _read_idx_split(files, info)
    search.tried.append(f"debian: {detail} (package {info.debian_package})")
    return None


def _allow_download() -> bool:
    return os.environ.get(ALLOW_DOWNLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def _manual_dir(info: DatasetInfo, data_dir: PathLike | None) -> Path | None:
    """A local folder tfds can prepare from: the official .gz names, as tfds checks them."""
    roots = [root for _, root in _dir_roots(data_dir)]
    roots += [home / "datasets" for home in _keras_homes()]
    for root in roots:
        for folder in [root] + [root / d for d in info.dir_names]:
            if all((folder / f).is_file() for f in info.files.values()):
                return folder
    return None


def _from_tfds(
    info: DatasetInfo,
    data_dir: PathLike | None,
    search: _Search,
    explicit: bool,
    tfds_data_dir: PathLike | None,
    **_: Any,
):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        search.tried.append(f"tfds: tensorflow-datasets is not importable ({e})")
        return None
    builder = tfds.builder(info.tfds_name, data_dir=tfds_data_dir)
    manual = _manual_dir(info, data_dir)
    prepared = builder.is_prepared()
    if not (prepared or manual or explicit or _allow_download()):
        search.tried.append(
            f"tfds: {info.tfds_name} is not prepared in {builder.data_dir_root} and no local"
            f" copy to prepare it from; download not attempted (pass source='tfds' or set"
            f" {ALLOW_DOWNLOAD_ENV}=1)"
        )
        return None
    config = {}
    if manual is not None:
        # Offline: tfds verifies the local files against its registered checksums.
        config = dict(manual_dir=os.fspath(manual), try_download_gcs=False)
    try:
        (x_tr, y_tr), (x_te, y_te) = tfds.as_numpy(
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
    except Exception as e:  # Any failure means "not available here"; the cause is chained.
        search.tried.append(f"tfds: loading {info.tfds_name} failed: {type(e).__name__}: {e}")
        search.cause = e
        return None
    # tfds keeps a channel axis and int64 labels; match the other sources.
    x_tr, x_te = (np.asarray(x).reshape(len(x), IMAGE_SIZE, IMAGE_SIZE) for x in (x_tr, x_te))
    y_tr, y_te = (np.asarray(y).astype(np.uint8) for y in (y_tr, y_te))
    where = f"tfds:{info.tfds_name}"
    _check_split(x_tr, y_tr, where, where, info.num_classes)
    _check_split(x_te, y_te, where, where, info.num_classes)
    return (x_tr, y_tr), (x_te, y_te)


_FINDERS: dict[str, Callable[..., Arrays | None]] = {
    "dir": _from_dir,
    "keras": _from_keras,
    "debian": _from_debian,
    "tfds": _from_tfds,
}


def _not_found_message(info: DatasetInfo, search: _Search, received: str) -> str:
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
    if source != "auto" and source not in SOURCES:
        raise ValueError(
            f"Unknown source. Expected 'auto' or one of {list(SOURCES)}."
            f" Received: source={source!r}"
        )
    sources = SOURCES if source == "auto" else (source,)
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
    if data_dir is not None:
        if source in ("keras", "debian"):
            raise ValueError(
                f"`data_dir` is read by source 'dir' (or 'tfds', to prepare from), not by "
                f"{source!r}; drop one of them. Received: data_dir={os.fspath(data_dir)!r}, "
                f"source={source!r}"
            )
        if source == "auto":
            sources = ("dir",)
    search = _Search()
    for src in sources:
        result = _FINDERS[src](
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
    raise DataNotFoundError(_not_found_message(info, search, received)) from search.cause


# --------------------------------------------------------------------------
# tf.data pipelines
# --------------------------------------------------------------------------


class Pipelines(NamedTuple):
    """The datasets built by `pipelines`, with the sizes Keras's `fit` wants.

    Attributes:
        train: Shuffled (and optionally augmented) training batches.
        test: Test batches in file order.
        val: Validation batches (carved from the training set), or `None`.
        info: The dataset's `DatasetInfo`.
        num_train: Examples in `train`.
        num_test: Examples in `test`.
        num_val: Examples in `val` (0 without a validation split).
        batch_size: The batch size.
        steps_per_epoch: Batches in one pass over `train`.
    """

    train: Any
    test: Any
    val: Any
    info: DatasetInfo
    num_train: int
    num_test: int
    num_val: int
    batch_size: int
    steps_per_epoch: int


def _split_validation(
    x: np.ndarray, y: np.ndarray, validation_split: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_val = round(len(x) * validation_split)
    if n_val < 1 or n_val >= len(x):
        raise ValueError(
            f"`validation_split` leaves an empty split of the {len(x)} training examples."
            f" Received: validation_split={validation_split}"
        )
    perm = np.random.default_rng(_SPLIT_SEED).permutation(len(x))
    train_idx, val_idx = perm[: len(x) - n_val], perm[len(x) - n_val :]
    return x[train_idx], y[train_idx], x[val_idx], y[val_idx]


def _augment_batch(tf: Any, images: Any, seed: Any, flip: bool) -> Any:
    """Random horizontal flip and shifts of up to 2 pixels, one draw per image."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    if flip:
        coin = tf.random.stateless_uniform([batch], seed=seeds[0]) < 0.5
        images = tf.where(coin[:, None, None, None], tf.reverse(images, axis=[2]), images)
    pad = 2
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    shifts = tf.random.stateless_uniform(
        [batch, 2], seed=seeds[1], minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    # A per-image crop as two batched gathers: exact and vectorised, no resampling.
    base = tf.range(IMAGE_SIZE, dtype=tf.int32)[None, :]
    rows = base + shifts[:, :1]
    cols = base + shifts[:, 1:]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


# Stateless keys are `[seed, epoch]` folded with one of these, so the
# permutation and the augmentation of an epoch draw from separate streams.
_PERMUTATION_KEY = 0x7F4A7C15
_AUGMENT_KEY = 0x2545F491


def _epoch_source(tf: Any, epoch: Any) -> Any:
    """A one-element dataset holding the epoch number of each new iteration.

    `None`: the pipeline counts its own iterations (the n-th is epoch n - 1).
    A `tf.Variable`: its value when the iteration starts (the caller sets it).
    An int: always that epoch.
    """
    if epoch is None:
        # Created outside any distribution strategy scope: a plain host counter.
        with tf.init_scope(), tf.device("/CPU:0"):
            counter = tf.Variable(-1, dtype=tf.int64, trainable=False, name="epoch_counter")
        return tf.data.Dataset.from_tensors(0).map(lambda _: counter.assign_add(1))
    if isinstance(epoch, (int, np.integer)):
        if isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"`epoch` must be >= 0. Received: epoch={epoch!r}")
        return tf.data.Dataset.from_tensors(tf.constant(int(epoch), tf.int64))
    if not hasattr(epoch, "read_value"):
        raise TypeError(
            f"`epoch` must be None, an int or an integer tf.Variable. Received: epoch={epoch!r}"
        )
    return tf.data.Dataset.from_tensors(0).map(lambda _: tf.cast(epoch.read_value(), tf.int64))


def _epoch_key(tf: Any, seed: int, epoch: Any, stream: int) -> Any:
    base = tf.stack([tf.constant(seed, tf.int64), epoch])
    return tf.random.experimental.stateless_fold_in(base, stream)


def _permuted_batches(
    tf: Any, n: int, batch_size: int, drop_remainder: bool, seed: int, epochs: Any
) -> Any:
    """Index batches of epoch e's permutation of `range(n)`, as `(indices, epoch, step)`.

    The permutation is a pure function of `(seed, e)`: a run resumed in a new
    process sees the same epochs as an uninterrupted one. One permutation and
    one reshape per epoch replace shuffling and batching `n` single elements,
    which on the full training set cost more CPU than everything else in the
    pipeline.
    """
    full, rest = divmod(n, batch_size)

    def epoch_batches(epoch: Any) -> Any:
        key = _epoch_key(tf, seed, epoch, _PERMUTATION_KEY)
        perm = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int32), seed=key)
        head = tf.reshape(perm[: full * batch_size], [full, batch_size])
        count = full + (1 if rest and not drop_remainder else 0)
        tags = (tf.fill([count], epoch), tf.range(count, dtype=tf.int64))
        batches = tf.data.Dataset.from_tensor_slices((head, tags[0][:full], tags[1][:full]))
        if count > full:
            batches = batches.concatenate(
                tf.data.Dataset.from_tensors((perm[full * batch_size :], epoch, tags[1][full]))
            )
        return batches

    return epochs.flat_map(epoch_batches)


def pipelines(
    name: str,
    batch_size: int,
    *,
    data_dir: PathLike | None = None,
    source: Source = "auto",
    standardize: bool = False,
    augment: bool | str = False,
    seed: int = 0,
    deterministic: bool = False,
    shuffle_buffer: int | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    validation_split: float = 0.0,
    cache: bool = True,
    drop_remainder: bool = False,
    epoch: Any = None,
) -> Pipelines:
    """Builds batched `tf.data` pipelines for training and evaluation.

    Each element is `(images, labels)`: float32 images of shape `(B, 28, 28, 1)`
    scaled to [0, 1] (or standardised with the training set's mean and std)
    and int32 labels of shape `(B,)`. Nothing runs per example: each epoch
    draws one permutation of the training set, splits it into index batches
    and gathers whole uint8 batches from the arrays held in memory; scaling
    and augmentation then run once per batch. That keeps the pipeline's CPU
    cost a small fraction of a training epoch.

    Args:
        name: `"fashion_mnist"` or `"mnist"`.
        batch_size: Examples per batch.
        data_dir: Passed to `load`.
        source: Passed to `load`.
        standardize: Subtract the dataset mean and divide by its std instead of
            only scaling to [0, 1].
        augment: `True` or `"light"`: random horizontal flips (Fashion-MNIST
            only; a mirrored digit is a different digit) and random shifts of up
            to 2 pixels. Training set only.
        seed: Seeds the shuffle and the augmentation. Every epoch (every new
            iteration, or repetition under `repeat`) is reshuffled and holds
            each training example exactly once (but for a dropped remainder).
            Epoch e's order and augmentation are a pure function of
            `(seed, e)` (and of the batch's step within the epoch): the same
            in every process, in the same order with `deterministic=True`.
        deterministic: Make `tf.data` keep element order through parallel
            stages, so runs are reproducible (slightly slower). Without it,
            each epoch still holds the same batches, but they may arrive in
            a different order.
        shuffle_buffer: `None` (or any size of at least the training set) gives
            a uniform permutation each epoch. A smaller buffer falls back to
            `tf.data`'s element-wise `shuffle` with that buffer: only a
            partial shuffle, and several times the CPU cost per epoch.
        limit_train: Use only the first `limit_train` training examples.
        limit_test: Use only the first `limit_test` test examples.
        validation_split: Fraction of the (limited) training set held out as
            `val`: the last part of a permutation with a fixed seed, so the
            split does not depend on `seed`.
        cache: Cache the decoded examples in memory after the first epoch.
            Applies to the test and validation sets and to the element-wise
            shuffle path; the default training path gathers from the arrays
            already in memory, so it has nothing to cache.
        drop_remainder: Drop the last, smaller training batch (test and
            validation batches are always complete sets).
        epoch: Which epoch each new iteration of `train` is. `None`: the
            pipeline counts its own iterations (the first is epoch 0, then 1,
            ...). An int: always that epoch. An integer `tf.Variable`: its
            value when the iteration starts; a trainer that resumes sets it
            (`tfconv.train` does, so a resumed run sees the epochs an
            uninterrupted one would).

    Returns:
        A `Pipelines` tuple: `train`, `test`, `val` (or `None`), `info`, sizes.

    Example:

    >>> p = pipelines("fashion_mnist", 256, data_dir="../shared/data")  # doctest: +SKIP
    >>> model.fit(p.train, validation_data=p.test, epochs=10)  # doctest: +SKIP
    """
    import tensorflow as tf

    info = get_info(name)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size}")
    if augment not in (False, True, "light", "none", None):
        raise ValueError(f"`augment` must be a bool or 'light'. Received: augment={augment!r}")
    augment = augment in (True, "light")
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    for arg, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        if value is not None and value < 1:
            raise ValueError(f"`{arg}` must be a positive int or None. Received: {arg}={value}")

    (x_train, y_train), (x_test, y_test) = load(name, data_dir=data_dir, source=source)
    x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    x_val = y_val = None
    if validation_split > 0:
        x_train, y_train, x_val, y_val = _split_validation(x_train, y_train, validation_split)

    options = tf.data.Options()
    options.deterministic = deterministic
    mean, std = (info.mean, info.std) if standardize else (0.0, 1.0)

    def scale(images: Any) -> Any:
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        return (x - mean) / std if standardize else x

    def to_model_inputs(images: Any, labels: Any) -> tuple[Any, Any]:
        return scale(images), tf.cast(labels, tf.int32)

    def evaluation(x: np.ndarray, y: np.ndarray) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if cache:
            ds = ds.cache()
        ds = ds.batch(batch_size)
        # Always in file order, so predictions line up with the labels from `load`.
        ds = ds.map(to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)

    num_train = len(x_train)
    steps = num_train // batch_size if drop_remainder else math.ceil(num_train / batch_size)
    take: Callable[..., tuple[Any, Any]]
    epochs = _epoch_source(tf, epoch)
    if shuffle_buffer and shuffle_buffer < num_train:
        # A partial shuffle can only be had element by element; its order
        # comes from tf.data's seeded stream (reshuffled per iteration within
        # a process), not from `(seed, epoch)`.
        elements = tf.data.Dataset.from_tensor_slices((x_train, y_train))
        if cache:
            elements = elements.cache()
        elements = elements.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        elements = elements.batch(batch_size, drop_remainder=drop_remainder)

        def tagged(epoch_number: Any) -> Any:
            return elements.enumerate().map(
                lambda step, batch: (batch[0], batch[1], epoch_number, step)
            )

        train = epochs.flat_map(tagged)

        def take(images: Any, labels: Any) -> tuple[Any, Any]:
            return images, labels

    else:
        # Pinned to the host: tf.data runs there, and a GPU copy would only be
        # gathered back from.
        with tf.device("/CPU:0"):
            all_images, all_labels = tf.constant(x_train), tf.constant(y_train)
        train = _permuted_batches(tf, num_train, batch_size, drop_remainder, seed, epochs)

        def take(indices: Any) -> tuple[Any, Any]:
            return tf.gather(all_images, indices), tf.gather(all_labels, indices)

    # `flat_map` hides the length; Keras needs it for progress bars and to
    # end an epoch without an out-of-data warning.
    train = train.apply(tf.data.experimental.assert_cardinality(steps))

    # Both paths yield `(batch..., epoch, step)` tuples (a batch, or a batch of
    # indices), which `take` turns into uint8 images and labels inside the one
    # per-batch map.
    def plain(*element: Any) -> tuple[Any, Any]:
        return to_model_inputs(*take(*element[:-2]))

    def augmented(*element: Any) -> tuple[Any, Any]:
        *batch, epoch_number, step = element
        images, labels = take(*batch)
        x = tf.cast(images, tf.float32)[..., None] / 255.0
        # A function of (seed, epoch, step): new draws every batch and epoch,
        # the same ones in every run and after a resume.
        key = _epoch_key(tf, seed, epoch_number, _AUGMENT_KEY)
        key = tf.random.experimental.stateless_fold_in(key, step)
        x = _augment_batch(tf, x, key, info.flip_ok)
        if standardize:
            x = (x - mean) / std
        return x, tf.cast(labels, tf.int32)

    train = train.map(
        augmented if augment else plain,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    train = train.prefetch(tf.data.AUTOTUNE).with_options(options)

    return Pipelines(
        train=train,
        test=evaluation(x_test, y_test),
        val=None if x_val is None else evaluation(x_val, y_val),
        info=info,
        num_train=num_train,
        num_test=len(x_test),
        num_val=0 if x_val is None else len(x_val),
        batch_size=int(batch_size),
        steps_per_epoch=steps,
    )
