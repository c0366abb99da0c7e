"""What the browser tools save for later: PDFs and screenshots, in one directory under
state_dir, kept within a count and a size (the oldest go first), listed and read back by
name (the MCP group serves them as resources).

Names are the daemon's own (``pdf-20261202T031500-3f9a2c1d.pdf``), never a page's or a
model's: a name read back is checked against that form before any path is made of it, so
no ``..`` or separator can reach the file system. Writes are atomic (a temporary file
renamed into place), so a listing never shows half a file. The blocking work runs in a
thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

KINDS = {
    "pdf": ("pdf", "application/pdf"),
    "screenshot-png": ("png", "image/png"),
    "screenshot-jpeg": ("jpg", "image/jpeg"),
    "recording": ("png", "image/apng"),
}
"""What ``save`` takes: kind -> the file's suffix and media type."""
NAME = re.compile(r"^(pdf|screenshot|recording)-\d{8}T\d{6}-[0-9a-f]{8}\.(pdf|png|jpg)$")
MIME_OF_SUFFIX = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}


@dataclass(frozen=True)
class SavedFile:
    name: str
    mime_type: str
    size: int
    created: float
    """Seconds since the epoch."""


class BrowserFiles:
    """The saved files in ``directory``: at most ``max_files`` of them and ``max_bytes`` in
    all, the oldest removed first when a new one is saved."""

    def __init__(self, directory: Path, *, max_files: int, max_bytes: int) -> None:
        self.directory = directory
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._lock = asyncio.Lock()

    async def save(self, kind: str, data: bytes) -> SavedFile:
        """Keep ``data`` (``kind``: ``pdf``, ``screenshot-png``, ``screenshot-jpeg``,
        ``recording``)."""
        suffix, mime = KINDS[kind]
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        name = f"{kind.partition('-')[0]}-{stamp}-{secrets.token_hex(4)}.{suffix}"
        async with self._lock:
            return await asyncio.to_thread(self._save, name, mime, data)

    def _save(self, name: str, mime: str, data: bytes) -> SavedFile:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.directory / f".{name}.partial"
        with partial.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, 0o600)
        final = self.directory / name
        partial.rename(final)
        self._trim(keep=name)
        return SavedFile(name=name, mime_type=mime, size=len(data), created=time.time())

    def _trim(self, *, keep: str) -> None:
        files = self._listed()
        total = sum(item.size for item in files)
        for item in files:  # oldest first
            if len(files) <= self._max_files and total <= self._max_bytes:
                break
            if item.name == keep:
                continue
            (self.directory / item.name).unlink(missing_ok=True)
            files = [other for other in files if other.name != item.name]
            total -= item.size

    async def listed(self) -> list[SavedFile]:
        """The saved files, oldest first."""
        return await asyncio.to_thread(self._listed)

    def _listed(self) -> list[SavedFile]:
        found = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
            found.append(SavedFile(entry.name, _mime(entry.name), stat.st_size, stat.st_mtime))
        return sorted(found, key=lambda item: (item.created, item.name))

    async def read(self, name: str) -> tuple[bytes, str] | None:
        """The file's bytes and type; None for a name that is not one of ours or is gone."""
        if not NAME.fullmatch(name):
            return None
        return await asyncio.to_thread(self._read, name)

    def _read(self, name: str) -> tuple[bytes, str] | None:
        path = self.directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, OSError):
            return None
        with os.fdopen(fd, "rb") as source:
            data = source.read()
        return data, _mime(name)


def _mime(name: str) -> str:
    """A saved file's media type, from its name (a recording is an animated PNG)."""
    if name.startswith("recording-"):
        return "image/apng"
    return MIME_OF_SUFFIX[name.rsplit(".", 1)[1]]
