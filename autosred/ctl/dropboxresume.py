"""Where `autosrectl dropbox put` keeps the upload URL of each file it has started sending, so
that running it again resumes instead of starting over.

A file is the same file while its absolute path, size and modification time are (the key);
an edited file gets a new upload. Entries are per dropbox (its certificate fingerprint): the
same path put to two daemons is two uploads. The state is a cache: a missing or unreadable
file only costs a resume (the upload starts again), never an upload.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

STATE_NAME = "dropbox-uploads.json"
KEEP_SECONDS = 14 * 24 * 3600.0
"""Entries older than this are dropped on the next write: no dropbox keeps a partial upload
that long (tus expiration), and the file must not grow without bound."""


def cache_dir(env: Mapping[str, str]) -> Path:
    """The user's cache directory (XDG), autosred's part of it."""
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path(env.get("HOME") or Path.home()) / ".cache"
    return root / "autosred"


@dataclass(frozen=True)
class FileKey:
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileKey:
        absolute = path.absolute()
        info = absolute.stat()
        return cls(path=str(absolute), size=info.st_size, mtime_ns=info.st_mtime_ns)


class ResumeState:
    """The upload URLs of unfinished puts, in one JSON file (0600) under the cache directory.

    Every change is a read-modify-write under an flock, written to a temporary file and renamed,
    so parallel puts and a put killed mid-write leave a whole file.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_NAME

    def find(self, dropbox: str, key: FileKey) -> str | None:
        """The upload URL of an unfinished put of this file to this dropbox, if any."""
        for entry in self._read():
            if _matches(entry, dropbox, key):
                url = entry.get("url")
                return url if isinstance(url, str) else None
        return None

    def remember(self, dropbox: str, key: FileKey, url: str) -> None:
        with self._locked():
            entries = [e for e in self._read() if not _matches(e, dropbox, key)]
            entries.append(
                {
                    "dropbox": dropbox,
                    "path": key.path,
                    "size": key.size,
                    "mtime_ns": key.mtime_ns,
                    "url": url,
                    "at": time.time(),
                }
            )
            self._write(entries)

    def forget(self, dropbox: str, key: FileKey) -> None:
        with self._locked():
            entries = self._read()
            kept = [e for e in entries if not _matches(e, dropbox, key)]
            if len(kept) != len(entries):
                self._write(kept)

    def _read(self) -> list[dict[str, object]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        uploads = data.get("uploads") if isinstance(data, dict) else None
        if not isinstance(uploads, list):
            return []
        return [entry for entry in uploads if isinstance(entry, dict)]

    def _write(self, entries: list[dict[str, object]]) -> None:
        oldest = time.time() - KEEP_SECONDS
        fresh = [e for e in entries if _number(e.get("at")) >= oldest]
        temporary = self.path.with_name(f".{STATE_NAME}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "uploads": fresh}, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.directory / f".{STATE_NAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def _matches(entry: Mapping[str, object], dropbox: str, key: FileKey) -> bool:
    return (
        entry.get("dropbox") == dropbox
        and entry.get("path") == key.path
        and entry.get("size") == key.size
        and entry.get("mtime_ns") == key.mtime_ns
    )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
