"""Image files read as the datasets store pictures: uint8 grayscale of a fixed size."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

MAX_IMAGE_PIXELS = 89_478_485
"""Largest image `load_image` decodes (Pillow's own decompression-bomb limit)."""


def _too_large(count: str, max_pixels: int, path: str | os.PathLike) -> ValueError:
    return ValueError(
        f"The image {count}, more than the limit of {max_pixels:,}; scale it down first. "
        f"Received: image={os.fspath(path)!r}"
    )


def _open(p: Path) -> Any:
    """Opens the file, reading its header only: the size is checked before decoding."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        # Sizes past Pillow's warning threshold are refused by `load_image`, by name.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(p)


def _grayscale(img: Any, size: tuple[int, int]) -> np.ndarray:
    """The picture upright, transparency as white, in gray, resized to `size` (H, W)."""
    from PIL import Image, ImageOps

    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(canvas, rgba)
    gray = img.convert("L")
    if gray.size != (size[1], size[0]):
        gray = gray.resize((size[1], size[0]), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8)


def load_image(
    path: str | os.PathLike,
    size: tuple[int, int] = (28, 28),
    invert: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Reads an image file as a uint8 grayscale array of `size` (height, width).

    Any format Pillow reads works (PNG, JPEG, ...), at any size. Transparent
    pixels count as white (a drawing on a transparent canvas is dark-on-light),
    the EXIF orientation of photos is honoured, and the image is resized with
    Lanczos resampling.

    Args:
        path: The image file.
        size: `(height, width)` of the result.
        invert: Replace each pixel `p` by `255 - p`, for dark-on-light
            pictures (the datasets are light-on-dark).
        max_pixels: Refuse images of more pixels than this (width times
            height, read from the header before decoding), so that a huge or
            hostile file cannot exhaust memory.

    Returns:
        A `uint8` array of shape `size`.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is not an image Pillow can read, or is too large.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"No such image file. Received: image={os.fspath(path)!r}")
    try:
        with _open(p) as img:
            if img.width * img.height > max_pixels:
                count = f"is {img.width}x{img.height} = {img.width * img.height:,} pixels"
                raise _too_large(count, max_pixels, path)
            pixels = _grayscale(img, size)
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{int(found.group(1)):,}" if found else "too many"
        raise _too_large(f"has {count} pixels", max_pixels, path) from None
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f"Cannot read the image ({err}). Received: image={os.fspath(path)!r}"
        ) from None
    return 255 - pixels if invert else pixels.copy()
