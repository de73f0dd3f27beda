"""The IDX file format: parsing its bytes and reading one (gzip or raw) file."""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

from tfconv.data.info import PathLike

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
