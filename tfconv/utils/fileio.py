"""Files written atomically: output folders checked up front, every file and
folder published by one rename, and the temporary files a killed run left
cleared away. Every command that writes (train, export, tune, viz, bench)
writes through here.

Temporary names are `.{target}.{pid}.{random}.tmp` (folders being replaced
are set aside as `.{target}.{pid}.{random}.old`), so a later run can tell a
leftover of a dead process from a file another live process is writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def check_output_dir(path: str | os.PathLike, name: str = "out") -> Path:
    """Raises `ValueError` unless `path` is, or can be created as, a writable folder.

    Nothing is created: a command that then fails leaves no empty folder.

    Args:
        path: The output folder.
        name: The argument's name in the message.

    Returns:
        `path` as a `Path`.
    """
    out = Path(path)
    received = f"Received: {name}={os.fspath(path)!r}"
    probe = out
    while not probe.exists():
        if probe.is_symlink():
            raise ValueError(f"{probe} is a broken symbolic link. {received}")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if not probe.is_dir():
        raise ValueError(f"{probe} is a file, so {out} cannot be a folder. {received}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"The folder {probe} is not writable. {received}")
    return out


def temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid this host could have
    return True


def remove_stale_temps(
    folder: str | os.PathLike, names: Iterable[str] = (), name_regex: str | None = None
) -> list[Path]:
    """Deletes the temporary files and folders that killed writers of `names` left in `folder`.

    A leftover is `.{name}.{pid}.{random}.tmp` or `.old` whose process is no
    longer alive, or `.{name}.{random}.tmp` / `.old` without a pid, as
    tfconv wrote them before it tagged them (no live tfconv writes those).

    Args:
        folder: The output folder.
        names: The file names written there.
        name_regex: A regular expression matching more of them, e.g. a pattern of PNG names.

    Returns:
        The paths deleted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    alternatives = "|".join([re.escape(n) for n in names] + ([name_regex] if name_regex else []))
    pattern = re.compile(rf"^\.(?:{alternatives})\.(?:(\d+)\.)?[A-Za-z0-9_]+\.(?:tmp|old)$")
    removed = []
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match is None or (match.group(1) and _pid_alive(int(match.group(1)))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed


def umask_mode(mode: int) -> int:
    """`mode` less the process umask: what an ordinary `open()` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path beside `target`; renames it over `target` on success.

    `suffix` ends the temporary name (a writer that goes by the extension,
    such as Keras's `.keras` saving, needs its own). The renamed file gets an
    ordinary file's permissions: temporary files are private (0600), but
    runs, reports and exports are meant to be shared.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(umask_mode(0o666))
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty temporary folder beside `target`; moves it to `target` on success.

    A folder cannot be renamed over a non-empty one, so an old `target` is first
    renamed aside and deleted afterwards: readers see the old folder, briefly
    nothing, then the new folder, never a partial one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        # Temporary folders are private (0700); outputs are meant to be shared.
        tmp.chmod(umask_mode(0o777))
        old = None
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=temp_prefix(target), suffix=".old", dir=target.parent)
            )
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Writes `text` to `target` through a temporary file and a rename."""
    with atomic_file(target) as tmp:
        tmp.write_text(text)


def write_json_atomic(target: str | os.PathLike, data: Any) -> None:
    """Writes `data` as indented JSON to `target`, atomically."""
    write_text_atomic(target, json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_model_atomic(model: Any, target: str | os.PathLike) -> None:
    """`model.save` to a temporary `.keras` file, then rename."""
    with atomic_file(target, suffix=".keras") as tmp:
        tmp.unlink()  # Keras refuses to overwrite silently in some versions.
        model.save(tmp)
