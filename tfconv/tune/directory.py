"""The search folder's guard: `prepare_directory` checks that a folder is this
search's (or new) before anything is written, and writes its marker.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tfconv.tune.config import MARKER, PROJECT, RESULT_FILES, TuneConfig
from tfconv.utils import fileio
from tfconv.utils.errors import ConfigError


def prepare_directory(
    directory: str | os.PathLike, config: TuneConfig, overwrite: bool = False, write: bool = True
) -> bool:
    """Checks that `directory` is this search's (or new) and writes its marker.

    Args:
        directory: The search folder.
        config: The search's `TuneConfig`.
        overwrite: Delete a previous tfconv search in `directory` first.
        write: Write the marker (False on workers, which only check it).

    Returns:
        Whether an earlier run of this search is there to resume.

    Raises:
        ConfigError: If `directory` holds something other than a tfconv
            search (never deleted, even with `overwrite`), or a tfconv search
            with different settings (unless `overwrite`).
    """
    root = Path(directory)
    wanted = json.loads(json.dumps(config.marker()))
    if not write and not (root / MARKER).exists():
        # A worker may start before its chief has made the folder; the chief checks it.
        return False
    if root.exists() and not root.is_dir():
        raise ConfigError(f"`--dir` is not a folder. Received: dir={str(root)!r}")
    found = _read_marker(root)
    if found is not None and overwrite and write:
        _clear(root)
        found = None
    if found is not None and found != wanted:
        raise ConfigError(
            f"The folder holds a different search ({_differences(found, wanted)}); use another "
            f"--dir, or --overwrite to start over. Received: dir={str(root)!r}"
        )
    if write and found is None:
        _write_marker(root, wanted)
    return found is not None and (root / PROJECT / "oracle.json").exists()


def _read_marker(root: Path) -> dict[str, Any] | None:
    """The marker's contents; `None` for a new folder; refuses any other folder."""
    marker_path = root / MARKER
    if marker_path.exists():
        try:
            found = json.loads(marker_path.read_text())
        except (OSError, ValueError):
            found = None
        if not isinstance(found, dict) or found.get("tfconv") != "search":
            raise ConfigError(
                f"{marker_path} is not a tfconv search marker; refusing to touch the folder. "
                f"Received: dir={str(root)!r}"
            )
        return found
    if root.exists() and next((p for p in root.rglob("*") if not p.is_dir()), None):
        # Empty folders do not count: an early worker may have made `search/`.
        raise ConfigError(
            f"The folder holds files but no {MARKER}: it is not a tfconv search (e.g. "
            f"another KerasTuner project); choose another --dir. Received: dir={str(root)!r}"
        )
    return None


def _clear(root: Path) -> None:
    """Deletes a tfconv search's own files, and nothing else."""
    shutil.rmtree(root / PROJECT, ignore_errors=True)
    for name in (*RESULT_FILES, MARKER):
        (root / name).unlink(missing_ok=True)


def _differences(found: dict[str, Any], wanted: dict[str, Any]) -> str:
    differ = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
    details = ", ".join(
        f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} here" for k in differ if k != "space"
    )
    if "space" in differ:
        details = ", ".join(filter(None, [details, "a different search space"]))
    return details


def _write_marker(root: Path, wanted: dict[str, Any]) -> None:
    try:
        fileio.check_output_dir(root, "dir")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    fileio.write_json_atomic(root / MARKER, wanted)
