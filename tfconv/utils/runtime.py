"""Facts about the machine and the installed packages, recorded with every run
and benchmark so that numbers can be traced to where they were measured; and
`quiet_stderr`, for native libraries that write straight to the process's stderr.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator


def describe_device() -> str:
    """A short name of where training runs, e.g. `"CPU (2 cores)"` or the GPU's."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return f"{len(gpus)} x {names[0]}" if len(gpus) > 1 else f"GPU ({names[0]})"
    return f"CPU ({os.cpu_count()} cores)"


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that decide a run's numbers."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("tfconv", "tensorflow", "keras", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silences file descriptor 2 inside the block, C++ libraries' writes included.

    For native code whose diagnostics also reach Python another way (the
    TFLite converter's, say, which its exception carries). Where the
    descriptor cannot be duplicated, nothing is silenced.
    """
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)
