"""Reading and writing `${XP_DATA_DIR}/service_runtime.json` on disk.

Plain blocking file I/O (the daemon runs it in a worker thread). A write is
atomic: the bytes go to a temporary file in the same directory, which is fsynced,
renamed over the state file, and the directory is fsynced, so a crash at any
point leaves either the old file or the new one. A file that cannot be used is
renamed to `service_runtime.json.corrupt-<UTC timestamp>`, never deleted.

The file's bytes are read (at most `MAX_STATE_FILE_BYTES`) and handed to the
core's `decode_state`, the one place that decodes them: whatever they hold, the
outcome is a usable state or an unusable file kept aside, never a crash.

Exceptions:

- `StateStoreError` (an `OSError`): the disk refused (read, rename or write);
  - `KeepAsideError`: an unusable file could not be moved aside (a read-only
    data directory), so the agent cannot start without losing it; its message
    starts with "could not move the unusable state file aside:".
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path

import attrs

from xpagent.core import NodeRuntime, PreviousRun, StateFileError, decode_state, restore

__all__ = [
    "MAX_STATE_FILE_BYTES",
    "STATE_FILE_NAME",
    "KeepAsideError",
    "LoadedState",
    "StateStoreError",
    "WriteFailures",
    "keep_aside",
    "load_state",
    "write_state",
]

STATE_FILE_NAME = "service_runtime.json"
#: 2000 events and 336 slots take well under 4 MiB; a larger file is not ours.
MAX_STATE_FILE_BYTES = 32 * 2**20


class StateStoreError(OSError):
    """The state file could not be read, moved aside or written (disk, permissions)."""


class KeepAsideError(StateStoreError):
    """An unusable state file could not be renamed aside (a read-only data directory).

    `path` is the file, `reason` why it cannot be used (None when not known).
    The agent must not start: its first write would destroy the file.
    """

    def __init__(self, message: str, *, path: Path, reason: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        # OSError's own __str__ would show the args tuple's repr.
        return str(self.args[0])


@attrs.frozen
class LoadedState:
    """What `load_state` found.

    `runtime` is None on a first start and after a reset; `reset_reason` says why
    a file that existed could not be used, and `kept_aside` where it now is.
    """

    runtime: NodeRuntime | None = None
    previous: PreviousRun | None = None
    reset_reason: str | None = None
    kept_aside: Path | None = None


@attrs.define
class WriteFailures:
    """How many writes of the state file have failed: `write_state` counts into one.

    Kept by the recorder for `/metrics`; a write runs in a worker thread under the
    recorder's write lock, and reading an int needs no lock.
    """

    count: int = 0


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_state(path: Path, *, node_id: str, now: datetime) -> LoadedState:
    """Load the state file at `path` for node `node_id`.

    A missing file is a first start. A file that is unreadable, not JSON, of
    another schema, invalid, or another node's, is kept aside and reported.
    Temporary files left by an interrupted write are removed. Raises
    StateStoreError only when an unusable file cannot be moved aside.
    """
    _remove_stale_temp_files(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_STATE_FILE_BYTES + 1)
    except FileNotFoundError:
        return LoadedState()
    except OSError as exc:
        reason = f"unreadable ({exc.strerror or exc.__class__.__name__})"
    else:
        if len(data) > MAX_STATE_FILE_BYTES:
            reason = f"larger than {MAX_STATE_FILE_BYTES // 2**20} MiB"
        else:
            try:
                runtime, previous = restore(decode_state(data, node_id=node_id))
            except StateFileError as exc:
                reason = str(exc)
            else:
                return LoadedState(runtime=runtime, previous=previous)
    return LoadedState(reset_reason=reason, kept_aside=keep_aside(path, now, reason=reason))


def keep_aside(path: Path, now: datetime, *, reason: str | None = None) -> Path:
    """Rename `path` to `<name>.corrupt-<UTC timestamp>` (made unique) and return it.

    Raises KeepAsideError, naming the file and `reason` (why it is unusable), when
    the rename fails.
    """
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    try:
        while target.exists():
            target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
            counter += 1
        path.rename(target)
        _fsync_directory(path.parent)
    except OSError as exc:
        why = f" ({reason})" if reason else ""
        raise KeepAsideError(
            f"could not move the unusable state file aside: {path}{why} cannot be renamed to "
            f"{target.name} ({exc.strerror or exc.__class__.__name__})",
            path=path,
            reason=reason,
        ) from exc
    return target


def write_state(path: Path, data: bytes, *, failures: WriteFailures | None = None) -> None:
    """Replace the file at `path` with `data`, atomically and durably.

    Raises StateStoreError when the disk refuses, after counting it in `failures`.
    """
    temp = path.with_name(f"{_temp_prefix(path)}{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        _fsync_directory(path.parent)
    except OSError as exc:
        if failures is not None:
            failures.count += 1
        with contextlib.suppress(OSError):
            temp.unlink()
        raise StateStoreError(f"cannot write state file {path}: {exc}") from exc


def _remove_stale_temp_files(path: Path) -> None:
    prefix = _temp_prefix(path)
    with contextlib.suppress(OSError):
        for leftover in path.parent.glob(f"{prefix}*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()
