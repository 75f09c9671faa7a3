"""Writing rendered files into the output directory, and nowhere else.

Each file goes to its path under the output directory. Directories are created
as needed; a symbolic link on the way (below the output directory itself) is
refused, so nothing can be written outside it. A file already holding the same
text and mode is left alone, so rendering twice changes nothing; a changed one is
replaced atomically (written aside, then renamed over it).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ._plan import RenderError
from ._templates import RenderedFile

__all__ = ["write_files"]


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _directory(out: Path, relative: Path) -> Path:
    """`out / relative`, a directory made as needed, never through a symbolic link."""
    current = out
    for part in relative.parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            try:
                current.mkdir(mode=0o755)
            except OSError as exc:
                raise RenderError(f"cannot create {current} ({_reason(exc)})") from None
            continue
        if stat.S_ISLNK(mode):
            raise RenderError(f"refusing to write through the symbolic link {current}")
        if not stat.S_ISDIR(mode):
            raise RenderError(f"{current} is in the way: it is not a directory")
    return current


def _unchanged(path: Path, data: bytes, mode: int) -> bool:
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != mode:
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _write(path: Path, data: bytes, mode: int) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, mode)  # exactly this mode, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if path.is_dir() and not path.is_symlink():
            raise RenderError(f"{path} is in the way: it is a directory")
        os.replace(temp, path)  # replaces a symbolic link itself, never its target
    except OSError as exc:
        raise RenderError(f"cannot write {path} ({_reason(exc)})") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def write_files(out: Path, files: Sequence[RenderedFile]) -> tuple[bool, ...]:
    """Write `files` under `out` (created if missing); for each, whether it changed.

    Raises RenderError, with one line, when `out` or a path below it cannot be used.
    """
    if out.exists() and not out.is_dir():
        raise RenderError(f"--out {out} is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"--out {out} cannot be created ({_reason(exc)})") from None
    changed: list[bool] = []
    for file in files:
        directory = _directory(out, Path(*file.path.parent.parts))
        path = directory / file.path.name
        data = file.content.encode()
        if _unchanged(path, data, file.mode):
            changed.append(False)
            continue
        _write(path, data, file.mode)
        changed.append(True)
    return tuple(changed)
