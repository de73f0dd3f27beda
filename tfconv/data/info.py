"""What tfconv knows about each dataset: the `DatasetInfo` registry and its constants."""

from __future__ import annotations

import dataclasses
import os
from types import MappingProxyType
from typing import Literal

import numpy as np

from tfconv.utils.checks import check_choice

PathLike = str | os.PathLike
Source = Literal["auto", "dir", "keras", "debian", "tfds"]
Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

SOURCES: tuple[str, ...] = ("dir", "keras", "debian", "tfds")
"""The places `load` can read from, in the order `source="auto"` tries them."""

DATA_DIR_ENV = "TFCONV_DATA_DIR"
ALLOW_DOWNLOAD_ENV = "TFCONV_ALLOW_DOWNLOAD"

IMAGE_SIZE = 28
NUM_CLASSES = 10


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
        # `name` itself, not its normalised key, so the message shows what was passed.
        check_choice("name", name, tuple(DATASETS))
    return DATASETS[key]
