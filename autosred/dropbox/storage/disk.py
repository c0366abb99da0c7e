"""The store's blocking file-system operations, every one relative to a held directory fd.

Nothing here follows a symlink: entries are opened with O_NOFOLLOW (a planted link fails
with ELOOP) and directories with O_DIRECTORY|O_NOFOLLOW, always by a single name that the
caller checked by shape, so no path a client influences is ever built.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from autosred.dropbox.storage.errors import UnsafeStorage

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted in place of a file cannot hold an open (no effect on files).
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
META = "meta.json"
META_TMP = "meta.json.tmp"
DATA = "data"


def open_dir(name: str, *, dir_fd: int | None = None, create: bool = False) -> int:
    """An fd on directory `name` (made 0700 when asked), never through a symlink."""
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeStorage(f"{name!r} in the dropbox root is not a plain directory") from exc
        raise


@contextmanager
def opened_dir(name: str, *, dir_fd: int) -> Iterator[int]:
    fd = open_dir(name, dir_fd=dir_fd)
    try:
        yield fd
    finally:
        os.close(fd)


def fsync_dir(fd: int) -> None:
    os.fsync(fd)


def open_entry(name: str, flags: int, *, dir_fd: int) -> int:
    """An fd on a regular file in an upload directory; a link or anything else is refused."""
    try:
        fd = os.open(name, flags | FILE_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise UnsafeStorage(f"an upload's {name!r} is not a regular file") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeStorage(f"an upload's {name!r} is not a regular file")
    return fd


def read_meta(dir_fd: int) -> dict[str, Any]:
    fd = open_entry(META, os.O_RDONLY, dir_fd=dir_fd)
    try:
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(1 << 20)
    finally:
        os.close(fd)
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise UnsafeStorage("an upload's metadata is not an object")
    return meta


def write_meta(dir_fd: int, meta: dict[str, Any]) -> None:
    """Atomically: write a temporary file, fsync it, rename it over, fsync the directory."""
    body = json.dumps(meta, sort_keys=True).encode()
    fd = open_entry(META_TMP, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=dir_fd)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(META_TMP, META, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    fsync_dir(dir_fd)


def open_data(dir_fd: int, flags: int) -> int:
    return open_entry(DATA, flags, dir_fd=dir_fd)


def data_size(dir_fd: int) -> int:
    """The size of an upload's data (its offset), refusing anything but a regular file."""
    info = os.stat(DATA, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeStorage("an upload's data is not a regular file")
    return info.st_size


def write_all(fd: int, data: bytes | memoryview, offset: int) -> int:
    """Write data at offset; the bytes fully written when an OSError stops it are on
    the exception as `written`, so a caller can report the exact offset reached."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        try:
            done += os.pwrite(fd, view[done:], offset + done)
        except OSError as exc:
            exc.written = done  # type: ignore[attr-defined]
            raise
    return done


def remove_tree(name: str, *, dir_fd: int) -> None:
    """Remove an upload directory: its entries are unlinked (a link is removed, not followed)."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        os.unlink(name, dir_fd=dir_fd)  # a link or file planted where a directory belongs
        return
    try:
        for entry in os.listdir(fd):
            try:
                os.unlink(entry, dir_fd=fd)
            except IsADirectoryError:
                remove_tree(entry, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)
