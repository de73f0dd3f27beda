"""Tests for `tfconv.data`: IDX parsing, source selection, loading and pipelines.

Real data is read from `$TFCONV_DATA_DIR` or `../shared/data` next to the
repository; nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfconv import data

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}
FASHION_CLASS_COUNTS = ([6000] * 10, [1000] * 10)
MNIST_CLASS_COUNTS = (
    [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
)


# --------------------------------------------------------------------------
# Helpers and fixtures
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path_factory):
    """Points every default location at empty folders so only what a test sets up is found."""
    empty = tmp_path_factory.mktemp("empty_home")
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(data.ALLOW_DOWNLOAD_ENV, raising=False)
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("KERAS_HOME", str(empty / ".keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(empty / "tensorflow_datasets"))
    monkeypatch.setattr(data.sources, "KERAS_FALLBACK_HOME", empty / "tmp_keras")
    # A machine with the Debian package installed must not satisfy "not found" tests.
    info = dataclasses.replace(
        data.DATASETS["fashion_mnist"], debian_dir=str(empty / "debian/fashion-mnist")
    )
    monkeypatch.setattr(
        data.info, "DATASETS", MappingProxyType({**data.DATASETS, "fashion_mnist": info})
    )
    return empty


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialises `array` as an IDX file (big-endian header and payload)."""
    array = np.asarray(array)
    code = IDX_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def write_dataset(
    folder: Path,
    n_train: int = 12,
    n_test: int = 5,
    seed: int = 0,
    overrides: dict | None = None,
) -> dict[str, np.ndarray]:
    """Writes a small synthetic dataset under the official file names."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays.update(overrides or {})
    folder.mkdir(parents=True, exist_ok=True)
    for key, fname in data.DATASETS["mnist"].files.items():
        write_idx(folder / fname, arrays[key])
    return arrays


def assert_same_as(loaded, arrays: dict[str, np.ndarray]) -> None:
    (x, y), (xt, yt) = loaded
    np.testing.assert_array_equal(x, arrays["train_images"])
    np.testing.assert_array_equal(y, arrays["train_labels"])
    np.testing.assert_array_equal(xt, arrays["test_images"])
    np.testing.assert_array_equal(yt, arrays["test_labels"])


def row_hashes(images: np.ndarray) -> list[str]:
    return [hashlib.sha1(np.ascontiguousarray(im).tobytes()).hexdigest() for im in images]


def batches(dataset, n: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for x, y in dataset:
        out.append((x.numpy(), y.numpy()))
        if n is not None and len(out) == n:
            break
    return out


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------


def test_registry():
    assert set(data.DATASETS) == {"fashion_mnist", "mnist"}
    assert data.CLASS_NAMES["fashion_mnist"][0] == "T-shirt/top"
    assert data.CLASS_NAMES["fashion_mnist"][9] == "Ankle boot"
    assert data.CLASS_NAMES["mnist"] == tuple("0123456789")
    info = data.get_info("fashion-mnist")
    assert info.num_classes == 10 and info.image_shape == (28, 28)
    assert info.mean == pytest.approx(72.94 / 255, abs=1e-4)
    assert info.std == pytest.approx(90.02 / 255, abs=1e-4)
    assert data.get_info("mnist").std == pytest.approx(78.57 / 255, abs=1e-4)


def test_unknown_name_and_source():
    with pytest.raises(ValueError, match=r"fashion_mnist.*mnist.*Received: name='cifar10'"):
        data.load("cifar10")
    with pytest.raises(ValueError, match=r"Received: source='web'"):
        data.load("mnist", source="web")


# --------------------------------------------------------------------------
# Real data
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, counts, train_mean",
    [("fashion_mnist", FASHION_CLASS_COUNTS, 72.94), ("mnist", MNIST_CLASS_COUNTS, 33.32)],
)
def test_load_real(data_root, name, counts, train_mean):
    (x, y), (xt, yt) = data.load(name, data_dir=data_root, source="dir")
    assert x.shape == (60_000, 28, 28) and xt.shape == (10_000, 28, 28)
    assert y.shape == (60_000,) and yt.shape == (10_000,)
    assert {a.dtype for a in (x, y, xt, yt)} == {np.dtype(np.uint8)}
    assert np.bincount(y, minlength=10).tolist() == counts[0]
    assert np.bincount(yt, minlength=10).tolist() == counts[1]
    assert abs(x.mean() - train_mean) < 0.01


def test_load_returns_independent_copies(data_root):
    (x, y), _ = data.load("mnist", data_dir=data_root)
    assert x.flags.writeable
    expected = x[0].copy()
    x[0] = 255
    y[0] = 99
    (x2, y2), _ = data.load("mnist", data_dir=data_root)
    np.testing.assert_array_equal(x2[0], expected)
    assert y2[0] < 10


def test_read_idx_gzip_and_raw_agree(data_root, tmp_path):
    for fname in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        gz = data_root / "mnist" / fname
        raw = tmp_path / fname.removesuffix(".gz")
        raw.write_bytes(gzip.decompress(gz.read_bytes()))
        # Compression is sniffed from magic bytes, so a misleading name does not matter.
        disguised = tmp_path / ("raw-" + fname)
        disguised.write_bytes(raw.read_bytes())
        a, b, c = data.read_idx(gz), data.read_idx(raw), data.read_idx(disguised)
        assert a.dtype == np.uint8 and a.shape[0] == 10_000
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_read_idx_other_dtypes(tmp_path):
    for dtype in IDX_CODES:
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        out = data.read_idx(write_idx(tmp_path / "a.idx", array, compress=False))
        assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.flags.writeable
        np.testing.assert_array_equal(out, array)


# --------------------------------------------------------------------------
# Corrupt files
# --------------------------------------------------------------------------

_VALID = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "fewer than the 4-byte magic"),
        (b"\x08\x03\x00\x00" + _VALID[4:], "wrong magic number"),
        (bytes([0, 0, 0x07, 2]) + _VALID[4:], "unknown data type code 0x07"),
        (bytes([0, 0, 0x08, 0]), "0 dimensions"),
        (_VALID[:10], "truncated header"),
        (_VALID[:-1], "truncated"),
        (_VALID + b"\x00\x00", "2 bytes of trailing garbage"),
        (gzip.compress(_VALID)[:-12], "corrupt gzip"),
        (b"\x1f\x8b" + b"garbage" * 5, "corrupt gzip"),
    ],
)
def test_read_idx_rejects_corrupt_files(tmp_path, content, problem):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=problem) as err:
        data.read_idx(path)
    assert str(path) in str(err.value)
    assert str(err.value).endswith(f"Received: path={path}")


@pytest.mark.parametrize(
    "overrides, bad_file, problem",
    [
        (
            {"train_labels": np.zeros(11, np.uint8)},
            "train-labels-idx1-ubyte.gz",
            "11 labels but 12 images",
        ),
        (
            {"test_labels": np.array([0, 1, 10, 3, 4], np.uint8)},
            "t10k-labels-idx1-ubyte.gz",
            r"labels must be in 0-9.*10 at index 2",
        ),
        (
            {"train_images": np.zeros((12, 27, 28), np.uint8)},
            "train-images-idx3-ubyte.gz",
            r"shape \(N, 28, 28\), got \(12, 27, 28\)",
        ),
        (
            {"test_images": np.zeros((5, 28, 28), np.int32)},
            "t10k-images-idx3-ubyte.gz",
            "images must be uint8",
        ),
        (
            {"train_labels": np.zeros((12, 1), np.uint8)},
            "train-labels-idx1-ubyte.gz",
            "1-D uint8 label vector",
        ),
    ],
)
def test_load_rejects_inconsistent_files(tmp_path, overrides, bad_file, problem):
    write_dataset(tmp_path / "mnist", overrides=overrides)
    with pytest.raises(ValueError, match=problem) as err:
        data.load("mnist", data_dir=tmp_path, source="dir")
    assert str(tmp_path / "mnist" / bad_file) in str(err.value)
    assert "Received: path=" in str(err.value)


# --------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------


@st.composite
def idx_like_bytes(draw):
    """Mostly-valid headers with a payload of random length, to reach the valid path too."""
    code = draw(st.sampled_from([*data.idx._IDX_DTYPES, 0x00, 0x0A, 0xFF]))
    dims = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    itemsize = data.idx._IDX_DTYPES[code].itemsize if code in data.idx._IDX_DTYPES else 1
    exact = math.prod(dims) * itemsize
    size = draw(st.one_of(st.just(exact), st.integers(0, exact + 4)))
    return header + draw(st.binary(min_size=size, max_size=size))


def _check_parse(content: bytes, path: Path) -> None:
    path.write_bytes(content)
    try:
        array = data.read_idx(path)
    except ValueError as e:
        assert str(path) in str(e)
        return
    raw = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    assert array.shape == shape
    assert array.dtype == data.idx._IDX_DTYPES[raw[2]].newbyteorder("=")
    assert len(raw) == 4 + 4 * ndim + array.nbytes


_PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    # The autouse `offline_env` fixture only sets env vars, which is safe to share.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@_PROPERTY_SETTINGS
@given(
    content=st.one_of(
        st.binary(max_size=64),
        idx_like_bytes(),
        idx_like_bytes().map(gzip.compress),
        st.binary(max_size=64).map(lambda b: b"\x1f\x8b" + b),
    )
)
def test_read_idx_never_returns_garbage(tmp_path_factory, content):
    _check_parse(content, tmp_path_factory.mktemp("fuzz") / "f.idx")


@st.composite
def valid_idx(draw):
    dtype = draw(st.sampled_from(list(IDX_CODES)))
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    values = draw(
        st.lists(st.integers(0, 100), min_size=math.prod(shape), max_size=math.prod(shape))
    )
    return np.array(values).astype(dtype).reshape(shape)


@_PROPERTY_SETTINGS
@given(array=valid_idx(), compress=st.booleans(), cut=st.floats(0.0, 1.0, exclude_max=True))
def test_any_truncation_raises(tmp_path_factory, array, compress, cut):
    content = idx_bytes(array)
    if compress:
        content = gzip.compress(content)
    path = tmp_path_factory.mktemp("trunc") / "f.idx"
    path.write_bytes(content)
    np.testing.assert_array_equal(data.read_idx(path), array)
    path.write_bytes(content[: int(cut * len(content))])
    with pytest.raises(ValueError, match="Received: path="):
        data.read_idx(path)


# --------------------------------------------------------------------------
# Source selection
# --------------------------------------------------------------------------


def test_source_dir_layouts(tmp_path):
    flat = write_dataset(tmp_path / "flat", seed=1)
    assert_same_as(data.load("mnist", data_dir=tmp_path / "flat", source="dir"), flat)
    dashed = write_dataset(tmp_path / "root" / "fashion-mnist", seed=2)
    assert_same_as(data.load("fashion_mnist", data_dir=tmp_path / "root"), dashed)
    underscored = write_dataset(tmp_path / "root2" / "fashion_mnist", seed=3)
    assert_same_as(data.load("fashion_mnist", data_dir=str(tmp_path / "root2")), underscored)


def test_source_dir_accepts_decompressed_files(tmp_path):
    arrays = write_dataset(tmp_path, seed=4)
    for fname in data.DATASETS["mnist"].files.values():
        gz = tmp_path / fname
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert_same_as(data.load("mnist", data_dir=tmp_path, source="dir"), arrays)


def test_source_env_var(tmp_path, monkeypatch):
    arrays = write_dataset(tmp_path / "mnist", seed=5)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert_same_as(data.load("mnist", source="dir"), arrays)
    assert_same_as(data.load("mnist"), arrays)


def test_explicit_data_dir_wins_over_env(tmp_path, monkeypatch):
    explicit = write_dataset(tmp_path / "a", seed=6)
    write_dataset(tmp_path / "b", seed=7)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "b"))
    assert_same_as(data.load("mnist", data_dir=tmp_path / "a"), explicit)


def test_source_keras_cache(offline_env, tmp_path, monkeypatch):
    keras_home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    fashion = write_dataset(keras_home / "datasets" / "fashion-mnist", seed=8)
    assert_same_as(data.load("fashion_mnist", source="keras"), fashion)

    rng = np.random.default_rng(9)
    npz = {
        "x_train": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 7, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    np.savez(keras_home / "datasets" / "mnist.npz", **npz)
    (x, y), (xt, yt) = data.load("mnist")  # auto reaches the Keras cache
    for got, key in ((x, "x_train"), (y, "y_train"), (xt, "x_test"), (yt, "y_test")):
        np.testing.assert_array_equal(got, npz[key])

    np.savez(keras_home / "datasets" / "mnist.npz", x_train=npz["x_train"])
    data.clear_cache()
    with pytest.raises(ValueError, match=r"mnist\.npz: missing array"):
        data.load("mnist", source="keras")


def test_source_debian(tmp_path, monkeypatch):
    debian_dir = tmp_path / "usr/share/datasets/fashion-mnist"
    arrays = write_dataset(debian_dir, seed=10)
    registry = data.info.DATASETS
    info = dataclasses.replace(registry["fashion_mnist"], debian_dir=str(debian_dir))
    monkeypatch.setattr(
        data.info, "DATASETS", MappingProxyType({**registry, "fashion_mnist": info})
    )
    assert_same_as(data.load("fashion_mnist", source="debian"), arrays)
    assert_same_as(data.load("fashion_mnist"), arrays)
    with pytest.raises(data.DataNotFoundError, match="no Debian package ships MNIST"):
        data.load("mnist", source="debian")


@pytest.mark.parametrize("source", ["dir", "keras", "debian"])
def test_not_found_lists_places_and_remedies(offline_env, tmp_path, source):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        data.load("fashion_mnist", data_dir=empty if source == "dir" else None, source=source)
    assert isinstance(err.value, data.DataNotFoundError)
    message = str(err.value)
    assert f"  - {source}" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir DIR" in message and data.DATA_DIR_ENV in message
    assert message.endswith(f"source='{source}'")
    if source == "dir":
        assert str(empty) in message
    if source == "keras":
        assert str(offline_env / ".keras" / "datasets" / "fashion-mnist") in message
        assert str(data.sources.KERAS_FALLBACK_HOME) in message


def test_not_found_auto_tries_everything_without_downloading(offline_env, tmp_path, monkeypatch):
    write_dataset(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    # The environment's folder is a default place: lacking the data, auto goes on.
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "partial"))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("mnist")
    message = str(err.value)
    assert "lacks t10k-labels-idx1-ubyte.gz" in message
    for place in (f"dir (${data.DATA_DIR_ENV})", "keras:", "debian:", "tfds:"):
        assert place in message
    assert "download not attempted" in message
    assert not (offline_env / "tensorflow_datasets" / "downloads").exists()


@pytest.mark.slow
def test_source_tfds_offline_from_manual_dir(data_root, tmp_path):
    (x, y), (xt, yt) = data.load(
        "mnist", data_dir=data_root, source="tfds", tfds_data_dir=tmp_path / "tfds"
    )
    (ex, ey), (ext, eyt) = data.load("mnist", data_dir=data_root, source="dir")
    # tfds stores examples in its own order: compare as multisets of (image, label).
    for got_x, got_y, want_x, want_y in ((x, y, ex, ey), (xt, yt, ext, eyt)):
        assert got_x.shape == want_x.shape and got_x.dtype == np.uint8
        got = sorted(zip(row_hashes(got_x), got_y.tolist(), strict=True))
        want = sorted(zip(row_hashes(want_x), want_y.tolist(), strict=True))
        assert got == want


# --------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------


def test_pipeline_shapes_and_ranges(data_root):
    p = data.pipelines("fashion_mnist", 32, data_dir=data_root, limit_train=100, limit_test=50)
    assert (p.num_train, p.num_test, p.num_val, p.val) == (100, 50, 0, None)
    assert p.steps_per_epoch == 4 and p.info.name == "fashion_mnist"
    train = batches(p.train)
    # The default (`deterministic=False`) lets parallel maps hand batches over
    # in any order, so the short one need not come last.
    assert sorted(len(y) for _, y in train) == [4, 32, 32, 32]
    x, y = next(b for b in train if len(b[1]) == 32)
    ordered = data.pipelines(
        "fashion_mnist", 32, data_dir=data_root, limit_train=100, limit_test=50, deterministic=True
    )
    assert [len(y) for _, y in batches(ordered.train)] == [32, 32, 32, 4]
    assert x.shape == (32, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert x.min() >= 0.0 and x.max() <= 1.0

    (_, _), (xt, yt) = data.load("fashion_mnist", data_dir=data_root)
    test = batches(p.test)
    assert [len(y) for _, y in test] == [32, 18]
    # The test set keeps file order and is only scaled.
    np.testing.assert_allclose(test[0][0][..., 0], xt[:32] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(test[1][1], yt[32:50])

    dropped = data.pipelines("mnist", 32, data_dir=data_root, limit_train=100, drop_remainder=True)
    assert dropped.steps_per_epoch == 3 and len(batches(dropped.train)) == 3


def test_pipeline_standardize(data_root):
    p = data.pipelines(
        "fashion_mnist",
        2500,
        data_dir=data_root,
        standardize=True,
        limit_train=1,
        limit_test=10_000,
    )
    x = np.concatenate([x for x, _ in batches(p.test)])
    assert abs(x.mean()) < 0.01
    assert x.std() == pytest.approx(1.0, abs=0.01)


def _first_batches(data_root, seed, n=2, **kwargs):
    p = data.pipelines(
        "fashion_mnist",
        16,
        data_dir=data_root,
        seed=seed,
        deterministic=True,
        limit_train=256,
        **kwargs,
    )
    return p, batches(p.train, n)


@pytest.mark.parametrize("augment", [False, True])
def test_pipeline_determinism_and_reshuffle(data_root, augment):
    p1, run1 = _first_batches(data_root, seed=1, augment=augment)
    _, run2 = _first_batches(data_root, seed=1, augment=augment)
    _, other = _first_batches(data_root, seed=2, augment=augment)
    for (x1, y1), (x2, y2) in zip(run1, run2, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(run1[0][0], other[0][0])
    # The same pipeline reshuffles on its second epoch.
    second_epoch = batches(p1.train, 2)
    assert not np.array_equal(run1[0][0], second_epoch[0][0])


def test_pipeline_augment_is_a_shift_or_flip(data_root):
    _, (plain,) = _first_batches(data_root, seed=3, n=1)
    _, (aug,) = _first_batches(data_root, seed=3, n=1, augment=True)
    # Augmentation runs after the shuffle, so both see the same examples.
    np.testing.assert_array_equal(plain[1], aug[1])
    assert aug[0].shape == plain[0].shape and aug[0].dtype == np.float32
    assert aug[0].min() >= 0.0 and aug[0].max() <= 1.0
    assert not np.array_equal(plain[0], aug[0])
    for original, augmented in zip(plain[0][..., 0], aug[0][..., 0], strict=True):
        padded = np.pad(original, 2)
        candidates = [
            im[dy : dy + 28, dx : dx + 28]
            for im in (padded, padded[:, ::-1])
            for dy in range(5)
            for dx in range(5)
        ]
        assert any(np.array_equal(augmented, c) for c in candidates)


def test_pipeline_validation_split(data_root):
    p = data.pipelines(
        "fashion_mnist", 64, data_dir=data_root, limit_train=200, validation_split=0.25
    )
    assert (p.num_train, p.num_val) == (150, 50)
    train_x = np.concatenate([x for x, _ in batches(p.train)])
    val_x = np.concatenate([x for x, _ in batches(p.val)])
    train_h, val_h = set(row_hashes(train_x)), set(row_hashes(val_x))
    assert len(train_x) == 150 and len(val_x) == 50
    assert not train_h & val_h
    (x, _), _ = data.load("fashion_mnist", data_dir=data_root)
    all_h = set(row_hashes((x[:200] / np.float32(255.0))[..., None]))
    assert train_h | val_h == all_h
    # The split ignores the shuffle seed, so trials with different seeds compare fairly.
    other = data.pipelines(
        "fashion_mnist", 64, data_dir=data_root, limit_train=200, validation_split=0.25, seed=9
    )
    assert set(row_hashes(np.concatenate([x for x, _ in batches(other.val)]))) == val_h


def _pairs(batch_list) -> list[tuple[str, int]]:
    """(image hash, label) of every example in `batch_list`, in order."""
    x = np.concatenate([x for x, _ in batch_list])
    y = np.concatenate([y for _, y in batch_list])
    return list(zip(row_hashes(x), y.tolist(), strict=True))


def _index_lookup(data_root, n: int) -> dict[tuple[str, int], int]:
    """Maps each of the first `n` training examples, as the pipeline yields it, to its index."""
    (x, y), _ = data.load("fashion_mnist", data_dir=data_root)
    keys = _pairs([((x[:n] / np.float32(255.0))[..., None], y[:n])])
    lookup = {key: i for i, key in enumerate(keys)}
    assert len(lookup) == n  # every example is identifiable by image and label
    return lookup


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"drop_remainder": True}, {"augment": False, "shuffle_buffer": 10}],
    ids=["permutation", "drop_remainder", "element_shuffle"],
)
def test_pipeline_epochs_are_permutations(data_root, kwargs):
    n, batch = 100, 16
    lookup = _index_lookup(data_root, n)

    def epochs(seed: int, deterministic: bool = True) -> list[list[tuple[int, ...]]]:
        p = data.pipelines(
            "fashion_mnist",
            batch,
            data_dir=data_root,
            limit_train=n,
            seed=seed,
            deterministic=deterministic,
            **kwargs,
        )
        assert int(p.train.cardinality()) == p.steps_per_epoch
        # Two epochs, each iterated anew as Keras's `fit` does.
        return [
            [tuple(lookup[key] for key in _pairs([b])) for b in batches(p.train)] for _ in range(2)
        ]

    run = epochs(seed=4)
    size = n // batch * batch if kwargs.get("drop_remainder") else n
    for epoch in run:
        flat = [i for b in epoch for i in b]
        # Each example at most once, and all of them unless a remainder is dropped.
        assert len(flat) == len(set(flat)) == size
        assert set(flat) <= set(range(n))
    assert run[0] != run[1]  # reshuffled every epoch
    assert epochs(seed=4) == run  # reproducible from the seed
    assert epochs(seed=5)[0] != run[0]
    # Without `deterministic`, parallel stages may only deliver whole batches
    # out of order: the batches themselves are the same.
    assert [sorted(e) for e in epochs(seed=4, deterministic=False)] == [sorted(e) for e in run]


def test_pipeline_permutation_is_uniform_and_repeats(data_root):
    n = 8
    p = data.pipelines("fashion_mnist", n, data_dir=data_root, limit_train=n, seed=6)
    lookup = _index_lookup(data_root, n)
    counts = np.zeros((n, n), int)  # example x position
    epochs = 160
    for x_batch, y_batch in p.train.repeat(epochs):
        # One batch per epoch: `repeat` reshuffles like a fresh iteration does.
        order = [lookup[key] for key in _pairs([(x_batch.numpy(), y_batch.numpy())])]
        assert sorted(order) == list(range(n))
        counts[order, np.arange(n)] += 1
    assert counts.sum() == n * epochs
    # Expected 20 per cell (sd about 4): every example lands everywhere.
    assert counts.min() >= 5 and counts.max() <= 40, counts


def test_pipeline_evaluation_sets_keep_their_order(data_root):
    p = data.pipelines(
        "fashion_mnist", 32, data_dir=data_root, limit_train=200, validation_split=0.25
    )
    (x, _), (xt, _) = data.load("fashion_mnist", data_dir=data_root)
    test = np.concatenate([x for x, _ in batches(p.test)])
    np.testing.assert_array_equal(test[..., 0], xt / np.float32(255.0))
    val = [np.concatenate([x for x, _ in batches(p.val)]) for _ in range(2)]
    np.testing.assert_array_equal(val[0], val[1])
    perm = np.random.default_rng(data.pipeline._SPLIT_SEED).permutation(200)
    np.testing.assert_array_equal(val[0][..., 0], x[perm[150:]] / np.float32(255.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"validation_split": 1.0}, "validation_split"),
        ({"validation_split": 0.001, "limit_train": 10}, "empty split"),
        ({"augment": "heavy"}, "augment"),
        ({"limit_train": 0}, "limit_train"),
    ],
)
def test_pipeline_rejects_bad_arguments(data_root, kwargs, match):
    kwargs = {"batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        data.pipelines("mnist", data_dir=data_root, **kwargs)


# --------------------------------------------------------------------------
# A data folder the user names is used or refused (issue 12, finding 8)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["auto", "dir"])
def test_named_data_dir_that_does_not_exist_is_refused(offline_env, tmp_path, source):
    # Another source holds the data: the typo must not silently fall back to it.
    write_dataset(offline_env / ".keras" / "datasets" / "mnist", seed=11)
    assert data.load("mnist", source="auto")  # reachable without data_dir
    with pytest.raises(data.DataNotFoundError, match=r"given as data_dir does not exist"):
        data.load("mnist", data_dir=tmp_path / "typo", source=source)


def test_named_data_dir_without_the_files_is_refused(offline_env, tmp_path):
    write_dataset(offline_env / ".keras" / "datasets" / "mnist", seed=12)
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("mnist", data_dir=tmp_path / "empty")
    message = str(err.value)
    assert str(tmp_path / "empty") in message
    assert "keras:" not in message  # never went on to another source


def test_data_dir_env_that_does_not_exist_is_refused(offline_env, tmp_path, monkeypatch):
    write_dataset(offline_env / ".keras" / "datasets" / "mnist", seed=13)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "typo"))
    with pytest.raises(data.DataNotFoundError, match=rf"given as \${data.DATA_DIR_ENV}"):
        data.load("mnist")


@pytest.mark.parametrize("source", ["keras", "debian"])
def test_data_dir_with_a_source_that_ignores_it_is_refused(offline_env, tmp_path, source):
    arrays = write_dataset(tmp_path / "mnist", seed=14)
    with pytest.raises(ValueError, match=r"`data_dir` is read by source 'dir'"):
        data.load("mnist", data_dir=tmp_path, source=source)
    assert_same_as(data.load("mnist", data_dir=tmp_path, source="dir"), arrays)
