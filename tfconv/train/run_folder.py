"""Run folders as transactions: a manifest, a lock, resume state, atomic publishing.

A run folder written by `tfconv.train.train` holds:

- the published snapshot: `model.keras`, `metrics.json`, `history.csv`,
  `curves.png` and `run.json` (the manifest: the settings that define the run
  and `"state": "complete"`). The five are replaced together or not at all:
  they are written into a private staging folder, which is renamed to a
  ready folder (the commit point) and then moved into place file by file,
  `run.json` last. A process killed during the moves is rolled forward by
  the next one that opens the folder;
- `.work/`: the state of an unfinished run (its own `run.json`, the
  checkpoint of the last finished epoch, the history so far). It is the
  resume point, and goes once the snapshot is published;
- `logs/`: TensorBoard logs, written live;
- `.lock`: an OS file lock (`fcntl.flock`), held while a process works on
  the folder and released by the kernel when that process dies.

A run is identified by its settings (`TrainConfig` fields that change the
results, and a fingerprint of the data). `RunFolder.decide` compares them
with what the folder holds: resume an interrupted run with the same
settings, report a finished one, or refuse with a one-line reason.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tfconv.utils import fileio

MANIFEST = "run.json"
LOCK = ".lock"
WORK = ".work"
STAGING = ".publish"
READY = ".publish-ready"
# The order in which a snapshot is moved into place: the manifest, which says
# "complete", goes last.
SNAPSHOT = ("model.keras", "metrics.json", "history.csv", "curves.png", MANIFEST)
# What an older tfconv (no manifest) left in a run folder.
LEGACY = ("model.keras", "metrics.json", "history.csv", "curves.png", "backup")
FORMAT = 1


class RunFolderError(ValueError):
    """The folder cannot be used for this run: busy, or holds another run."""


class PublishError(OSError):
    """Writing the snapshot failed; the previous snapshot, if any, is untouched."""

    def __str__(self) -> str:
        return str(self.strerror)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def settings_diff(held: Mapping[str, Any], asked: Mapping[str, Any]) -> list[str]:
    """`"name: held -> asked"` for each setting that differs (nested keys dotted)."""
    a, b = _flatten(held), _flatten(asked)
    missing = object()
    return [
        f"{key}: {a.get(key, 'unset')!r} -> {b.get(key, 'unset')!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key, missing) != b.get(key, missing)
    ]


def _read_manifest(path: Path, out: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        data = err
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise RunFolderError(
            f"{path} is not a readable tfconv run manifest; use --out NEW for a new run, "
            f"or --overwrite to replace it. Received: out={str(out)!r}"
        )
    return data


def _write_json(path: Path, data: Any) -> None:
    # fsynced before the rename: the manifest decides what a restart does.
    with fileio.atomic_file(path) as tmp, open(tmp, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())


class RunFolder:
    """One run folder, opened by one process (see the module docstring).

    Args:
        path: The folder (created, with its parents, if missing).
        write: `False` for a process that only reads the folder (a
            non-chief worker): no lock, nothing written or removed.
    """

    def __init__(self, path: str | os.PathLike, write: bool = True) -> None:
        self.path = Path(path)
        self.write = write
        self.work = self.path / WORK
        self.checkpoint_dir = self.work / "ckpt"
        self.history_path = self.work / "history.json"
        self.manifest: dict[str, Any] | None = None
        self._lock_fd: int | None = None
        self._created: list[Path] = []
        self._fresh = False

    # -- opening -----------------------------------------------------------

    def acquire(self) -> None:
        """Creates the folder, takes the lock and finishes or clears leftovers.

        Raises:
            RunFolderError: The folder is not writable or another process
                holds it.
        """
        if not self.write:
            return
        out = str(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"The output folder is a file. Received: out={out!r}")
        missing = []
        for parent in (self.path, *self.path.parents):
            if parent.exists():
                break
            missing.append(parent)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._created = missing  # deepest first
            self._lock()
        except OSError as err:
            self._remove_created()
            raise RunFolderError(
                f"The output folder is not writable ({err.strerror}). Received: out={out!r}"
            ) from None
        self._recover()

    def _lock(self) -> None:
        import fcntl

        path = self.path / LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = os.read(fd, 32).decode(errors="replace").strip()
                finally:
                    os.close(fd)
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise RunFolderError(
                    f"Another process{who} is training in this folder; wait for it or use "
                    f"--out NEW. Received: out={str(self.path)!r}"
                ) from None
            # The holder before us may have removed the file as it finished:
            # a lock on an unlinked file guards nothing, so take the new one.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the pid is only for the busy message

    def _recover(self) -> None:
        """Rolls a committed snapshot forward; removes what crashed writers left."""
        if (self.path / READY).is_dir():
            self._move_into_place()
        shutil.rmtree(self.path / STAGING, ignore_errors=True)
        # Temporary files of atomic writes (`.NAME.XXXX.tmp` and the like).
        for folder in (self.path, self.work):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                name = entry.name
                if (
                    entry.is_file()
                    and name.startswith(".")
                    and name.endswith((".tmp", ".keras", ".png"))
                ):
                    entry.unlink(missing_ok=True)

    def decide(self, settings: Mapping[str, Any], overwrite: bool = False) -> str:
        """`"fresh"`, `"resume"` or `"finished"` for a run with `settings`.

        Raises:
            RunFolderError: The folder holds another run (other settings, or
                files without a manifest) and `overwrite` is false.
        """
        if overwrite:
            return "fresh"
        out = str(self.path)
        work = _read_manifest(self.work / MANIFEST, self.path)
        published = _read_manifest(self.path / MANIFEST, self.path)
        if work and published and work.get("run_id") == published.get("run_id"):
            # Published, but killed before the resume state was cleared.
            if self.write:
                shutil.rmtree(self.work, ignore_errors=True)
            work = None
        ways_out = "use --out NEW for a new run, or --overwrite to replace it"
        if work is not None:
            diff = settings_diff(work["settings"], settings)
            if diff:
                raise RunFolderError(
                    f"The folder holds an interrupted run with other settings "
                    f"({'; '.join(diff)}): rerun with its settings to resume it, {ways_out}. "
                    f"Received: out={out!r}"
                )
            self.manifest = work
            return "resume"
        if published is not None:
            diff = settings_diff(published["settings"], settings)
            if diff:
                raise RunFolderError(
                    f"The folder holds a finished run with other settings "
                    f"({'; '.join(diff)}): {ways_out}. Received: out={out!r}"
                )
            self.manifest = published
            return "finished"
        legacy = [name for name in LEGACY if (self.path / name).exists()]
        if legacy:
            raise RunFolderError(
                f"The folder holds files of another run ({', '.join(legacy)}) without a "
                f"{MANIFEST}: {ways_out}. Received: out={out!r}"
            )
        return "fresh"

    # -- the run -----------------------------------------------------------

    def begin(self, settings: Mapping[str, Any], fresh: bool, info: Mapping[str, Any]) -> None:
        """Starts (or restarts) the run: a fresh one clears old resume state and logs."""
        self._fresh = fresh
        if not self.write:
            return
        if fresh:
            shutil.rmtree(self.work, ignore_errors=True)
            if (self.path / MANIFEST).exists() or any(
                (self.path / name).exists() for name in LEGACY
            ):
                # Logs and old-style checkpoints of the run being replaced.
                shutil.rmtree(self.path / "logs", ignore_errors=True)
                shutil.rmtree(self.path / "backup", ignore_errors=True)
            self.manifest = {
                "format": FORMAT,
                "state": "running",
                "run_id": uuid.uuid4().hex,
                "settings": dict(settings),
                "started": _now(),
                **info,
            }
        self.work.mkdir(exist_ok=True)
        _write_json(self.work / MANIFEST, self.manifest)

    def read_history(self) -> list[dict[str, float]]:
        if not self.history_path.exists():
            return []
        return json.loads(self.history_path.read_text())

    def write_history(self, rows: list[dict[str, float]]) -> None:
        if self.write:
            _write_json(self.history_path, rows)

    def publish(self, writers: Mapping[str, Callable[[Path], None]]) -> None:
        """Writes a new snapshot and puts it in place of the old one.

        Args:
            writers: For each snapshot file but `run.json`, a function
                writing it to the path it is given.

        Raises:
            PublishError: A write failed (disk full, permissions); the
                previous snapshot is untouched and the resume state kept.
        """
        if not self.write:
            return
        staging = self.path / STAGING
        shutil.rmtree(staging, ignore_errors=True)
        manifest = {**(self.manifest or {}), "state": "complete", "finished": _now()}
        try:
            staging.mkdir()
            for name, write in writers.items():
                write(staging / name)
            _write_json(staging / MANIFEST, manifest)
            for name in SNAPSHOT:
                if (staging / name).exists():
                    with open(staging / name, "rb") as f:
                        os.fsync(f.fileno())
            _fsync_dir(staging)
        except OSError as err:
            shutil.rmtree(staging, ignore_errors=True)
            what = err.strerror or str(err)
            raise PublishError(
                err.errno or errno.EIO,
                f"Cannot write the run's outputs to {self.path} ({what}); the previous "
                f"outputs are untouched and the run resumes from its last epoch when "
                f"started again",
            ) from err
        os.replace(staging, self.path / READY)  # the commit point
        _fsync_dir(self.path)
        self._move_into_place()
        shutil.rmtree(self.work, ignore_errors=True)

    def _move_into_place(self) -> None:
        ready = self.path / READY
        for name in SNAPSHOT:
            if (ready / name).exists():
                os.replace(ready / name, self.path / name)
        _fsync_dir(self.path)
        shutil.rmtree(ready, ignore_errors=True)

    # -- closing -----------------------------------------------------------

    def resumable(self) -> bool:
        return self.checkpoint_dir.is_dir() and any(self.checkpoint_dir.iterdir())

    def close(self, failed: bool) -> None:
        """Releases the lock; a failed run with nothing to resume leaves no trace."""
        if not self.write or self._lock_fd is None:
            return
        try:
            if failed and not self.resumable():
                shutil.rmtree(self.work, ignore_errors=True)
                if self._fresh and not (self.path / MANIFEST).exists():
                    shutil.rmtree(self.path / "logs", ignore_errors=True)
            (self.path / LOCK).unlink(missing_ok=True)
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._remove_created()

    def _remove_created(self) -> None:
        for folder in self._created:
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break
        self._created = []
