"""The access state on disk: one JSON file, replaced atomically, 0600, never through a link.

It holds only digests of secrets, but who may read it learns who has tokens, their quotas and
every share; so it is the daemon user's alone. A write goes to a temporary file beside it
(created exclusively), is fsynced, renamed over the old one and the directory fsynced: a crash
at any moment leaves the old state or the new one, never a torn file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_BYTES = 16 << 20


class StateFileError(Exception):
    """The access state file cannot be used as it is (named, with what is wrong)."""


def read_state(path: Path) -> dict[str, Any] | None:
    """The file's JSON object, or None when there is no file yet."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StateFileError(f"{path} is a symbolic link; refusing to follow it") from exc
        raise StateFileError(f"{path}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateFileError(f"{path} is not a regular file")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise StateFileError(
                f"{path} is readable or writable by others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): chmod 0600 {path}"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > _MAX_BYTES:
        raise StateFileError(f"{path} is larger than {_MAX_BYTES} bytes")
    try:
        state = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFileError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise StateFileError(f"{path} does not hold a JSON object")
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Replace the file with `state` atomically and durably (the directory made 0700)."""
    body = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | _FLAGS)
    try:
        temporary = f".{path.name}.tmp"
        try:
            os.unlink(temporary, dir_fd=dir_fd)  # left by a crash: never opened, only replaced
        except FileNotFoundError:
            pass
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _FLAGS, 0o600, dir_fd=dir_fd)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
