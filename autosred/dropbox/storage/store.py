"""The dropbox's storage: uploads under random ids, partial data apart from finished files.

This is the storage layer the tus 1.0.0 routes sit on (through dropbox/service.py). Its
operations are what tus needs: create (length and metadata), append at an offset (length,
checksum and lock checked), the current offset, completion when the last byte is in,
termination, expiry, a listing by owner, and reading a finished file with its size and sha256.

Layout under `dropbox.root` (every directory 0700, every file 0600):

    partial/<id>/data, meta.json    an upload still receiving data (its offset: data's size)
    files/<id>/data, meta.json      a finished file (meta.json holds its sha256)
    partial/.new-<id>, .del-<id>    being created or removed; cleared when the store opens

Durability: an append is fsynced before its new offset is reported; meta.json is replaced
atomically (temporary file, fsync, rename, fsync of the directory); completion fsyncs the
data, writes the final meta.json, then renames partial/<id> to files/<id> in one step and
fsyncs both directories. A process killed at any moment therefore leaves either the old state
or a resumable upload; an upload whose data was all in but not yet moved is finished when the
store next opens. A finished file is never visible torn.

Blocking I/O runs in worker threads (`asyncio.to_thread`), never on the event loop: fsync of a
large file or a slow disk would otherwise stall every model stream the daemon relays. The
default executor is enough: each request runs its steps one after another, and the thread
count bounds how many disks operations wait at once. An append's hashing runs on a thread of
its own beside the writing one (hashing.py).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import functools
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from autosred.dropbox.storage import disk
from autosred.dropbox.storage.errors import (
    BadChecksumAlgorithm,
    ChecksumMismatch,
    Expired,
    InsufficientSpace,
    NotFound,
    OffsetMismatch,
    QuotaExceeded,
    TooLarge,
    UnsafeStorage,
    UploadBusy,
)
from autosred.dropbox.storage.hashing import ChunkHashes
from autosred.dropbox.storage.ids import is_id, new_id
from autosred.dropbox.storage.names import name_of
from autosred.dropbox.storage.writeback import start_writeback

PARTIAL = "partial"
FILES = "files"
_NEW = ".new-"
_DEL = ".del-"
_HASH_BLOCK = 1 << 20
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
ALGORITHMS = frozenset({"sha1", "sha256"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Quota:
    """What one owner may hold: bytes (declared lengths, partial uploads included) and files."""

    max_bytes: int | None = None
    max_files: int | None = None


@dataclass(frozen=True, slots=True)
class Checksum:
    """tus `Upload-Checksum`: the algorithm and the digest the client computed of its chunk."""

    algorithm: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """One upload or file as its owner sees it."""

    id: str
    owner: str
    name: str | None
    length: int
    offset: int
    complete: bool
    sha256: str | None
    metadata: dict[str, bytes]
    created: float
    expires: float | None


@dataclass(slots=True)
class StoredFile:
    """A finished file opened for reading (without following links); close it when done."""

    entry: Entry
    fd: int

    @property
    def size(self) -> int:
        return self.entry.length

    async def read(self, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(os.pread, self.fd, size, offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    async def __aenter__(self) -> StoredFile:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def _settled(call: Callable[[], T]) -> T:
    """Run a blocking call in a thread; when the caller is cancelled, wait for the thread to
    finish before giving up, so no write is still running on an fd the caller cleans up."""
    task = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class Store:
    """The dropbox storage under one root directory. Build it with `await Store.open(...)`."""

    def __init__(
        self,
        *,
        root_fd: int,
        partial_fd: int,
        files_fd: int,
        max_size: int,
        upload_ttl: float,
        min_free: int,
        clock: Callable[[], float],
        log: logging.Logger,
    ) -> None:
        self._root_fd = root_fd
        self._partial_fd = partial_fd
        self._files_fd = files_fd
        self.max_size = max_size
        self._upload_ttl = upload_ttl
        self._min_free = min_free
        self._clock = clock
        self._log = log
        # Creates are checked against quotas one at a time, so two cannot both pass the check.
        self._create_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        root: str | os.PathLike[str],
        *,
        max_size: int,
        upload_ttl: float = 24 * 3600.0,
        min_free: int = 64 << 20,
        clock: Callable[[], float] = time.time,
        log: logging.Logger | None = None,
    ) -> Store:
        """Open (creating) the store at root, and recover what a killed process left."""
        logger = log or logging.getLogger("autosred.dropbox")

        def opening() -> Store:
            os.makedirs(root, mode=0o700, exist_ok=True)
            root_fd = disk.open_dir(os.fspath(root))
            try:
                partial_fd = disk.open_dir(PARTIAL, dir_fd=root_fd, create=True)
                files_fd = disk.open_dir(FILES, dir_fd=root_fd, create=True)
            except BaseException:
                os.close(root_fd)
                raise
            store = cls(
                root_fd=root_fd,
                partial_fd=partial_fd,
                files_fd=files_fd,
                max_size=max_size,
                upload_ttl=upload_ttl,
                min_free=min_free,
                clock=clock,
                log=logger,
            )
            store._recover()
            return store

        return await asyncio.to_thread(opening)

    async def close(self) -> None:
        for fd in (self._files_fd, self._partial_fd, self._root_fd):
            os.close(fd)

    # -- creation ----------------------------------------------------------------------------

    async def create(
        self, owner: str, length: int, metadata: dict[str, bytes], *, quota: Quota = Quota()
    ) -> Entry:
        """A new empty upload of `length` bytes; the name (metadata `filename`) is checked."""
        if length < 0:
            raise ValueError("an upload length is never negative")
        if length > self.max_size:
            raise TooLarge(f"the upload is larger than the maximum {self.max_size}")
        name = name_of(metadata)
        async with self._create_lock:
            entries = await self.entries(owner)
            if quota.max_files is not None and len(entries) + 1 > quota.max_files:
                raise QuotaExceeded("files")
            used = sum(entry.length for entry in entries)
            if quota.max_bytes is not None and used + length > quota.max_bytes:
                raise QuotaExceeded("bytes")
            now = self._clock()
            meta: dict[str, Any] = {
                "owner": owner,
                "name": name,
                "length": length,
                "metadata": {key: value.hex() for key, value in metadata.items()},
                "created": now,
                "expires": now + self._upload_ttl,
            }
            upload_id = await _settled(lambda: self._create(meta, length))
        self._log.info(
            "dropbox.upload.created",
            extra={"fields": {"id": upload_id, "owner": owner, "length": length}},
        )
        entry = _entry(upload_id, meta, 0, complete=False)
        if length == 0:
            return await _settled(lambda: self._complete(upload_id))
        return entry

    def _create(self, meta: dict[str, Any], length: int) -> str:
        free = self._free_bytes()
        if free < length + self._min_free:
            raise InsufficientSpace(0)
        upload_id = new_id()
        staging = _NEW + upload_id
        try:
            fd = disk.open_dir(staging, dir_fd=self._partial_fd, create=True)
            try:
                data = disk.open_data(fd, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                os.fsync(data)
                os.close(data)
                disk.write_meta(fd, meta)
            finally:
                os.close(fd)
        except OSError as exc:
            disk.remove_tree(staging, dir_fd=self._partial_fd)
            if exc.errno in _FULL:
                raise InsufficientSpace(0) from exc
            raise
        os.rename(staging, upload_id, src_dir_fd=self._partial_fd, dst_dir_fd=self._partial_fd)
        disk.fsync_dir(self._partial_fd)
        return upload_id

    def _free_bytes(self) -> int:
        stats = os.statvfs(self._root_fd)
        return stats.f_bavail * stats.f_frsize

    # -- looking up --------------------------------------------------------------------------

    async def get(self, owner: str, upload_id: str) -> Entry:
        """The upload or file `upload_id` of `owner`: NotFound for an unknown, malformed or another
        owner's id alike; Expired (a NotFound) for an upload of owner past its expiry."""
        return await asyncio.to_thread(self._get, owner, upload_id)

    def _get(self, owner: str, upload_id: str) -> Entry:
        entry = self._lookup(upload_id)
        if entry.owner != owner:
            raise NotFound(upload_id)  # the same answer as for an id that does not exist
        if self._expired(entry):
            raise Expired(upload_id)
        return entry

    async def find(self, upload_id: str) -> Entry:
        """The upload or file `upload_id` whoever owns it (the admin's view), or NotFound
        (Expired for an expired upload)."""
        return await asyncio.to_thread(self._find, upload_id)

    def _find(self, upload_id: str) -> Entry:
        entry = self._lookup(upload_id)
        if self._expired(entry):
            raise Expired(upload_id)
        return entry

    def _lookup(self, upload_id: str) -> Entry:
        if not is_id(upload_id):
            raise NotFound(upload_id)
        for parent, complete in ((self._files_fd, True), (self._partial_fd, False)):
            try:
                with disk.opened_dir(upload_id, dir_fd=parent) as fd:
                    return self._entry_at(fd, upload_id, complete)
            except (FileNotFoundError, UnsafeStorage, ValueError, KeyError, TypeError):
                continue
        raise NotFound(upload_id)

    def _entry_at(self, fd: int, upload_id: str, complete: bool) -> Entry:
        meta = disk.read_meta(fd)
        offset = int(meta["length"]) if complete else disk.data_size(fd)
        return _entry(upload_id, meta, offset, complete=complete)

    def _expired(self, entry: Entry) -> bool:
        return not entry.complete and entry.expires is not None and entry.expires <= self._clock()

    async def entries(self, owner: str) -> list[Entry]:
        """Every upload and file of `owner` (expired uploads left out), oldest first."""
        return await asyncio.to_thread(self._list, owner)

    async def all_entries(self) -> list[Entry]:
        """Every owner's uploads and files (expired uploads left out), oldest first."""
        return await asyncio.to_thread(self._list, None)

    def _list(self, owner: str | None) -> list[Entry]:
        found = [
            entry
            for entry in self._all()
            if (owner is None or entry.owner == owner) and not self._expired(entry)
        ]
        return sorted(found, key=lambda entry: (entry.created, entry.id))

    def _all(self) -> list[Entry]:
        entries: list[Entry] = []
        for parent, complete in ((self._files_fd, True), (self._partial_fd, False)):
            for name in os.listdir(parent):
                if not is_id(name):
                    continue
                try:
                    with disk.opened_dir(name, dir_fd=parent) as fd:
                        entries.append(self._entry_at(fd, name, complete))
                except (FileNotFoundError, UnsafeStorage, ValueError, KeyError, TypeError, OSError):
                    self._log.warning("dropbox.store.unreadable", extra={"fields": {"id": name}})
        return entries

    # -- appending ---------------------------------------------------------------------------

    async def append(
        self,
        owner: str,
        upload_id: str,
        offset: int,
        chunks: AsyncIterable[bytes],
        *,
        checksum: Checksum | None = None,
    ) -> Entry:
        """Write a request's body at `offset`; the new state (complete once the last byte is in).

        One append at a time per upload (UploadBusy otherwise, across processes too: an
        flock on the data). Data past the declared length, or a checksum that differs,
        discards the whole request's data. A body that stops early (the client went away)
        keeps what arrived, fsynced, so the upload resumes there. ENOSPC reports the exact
        durable offset.
        """
        if checksum is not None and checksum.algorithm not in ALGORITHMS:
            raise BadChecksumAlgorithm(checksum.algorithm)
        entry = await self.get(owner, upload_id)
        if entry.complete:
            raise OffsetMismatch(entry.offset)
        fd = await _settled(lambda: self._lock_data(upload_id))
        try:
            return await self._append_locked(fd, entry, offset, chunks, checksum)
        finally:
            os.close(fd)  # closing releases the flock

    def _lock_data(self, upload_id: str) -> int:
        try:
            with disk.opened_dir(upload_id, dir_fd=self._partial_fd) as dir_fd:
                fd = disk.open_data(dir_fd, os.O_RDWR)
        except FileNotFoundError as exc:  # completed or removed since it was looked up
            raise NotFound(upload_id) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise UploadBusy(upload_id) from exc
        return fd

    async def _append_locked(
        self,
        fd: int,
        entry: Entry,
        offset: int,
        chunks: AsyncIterable[bytes],
        checksum: Checksum | None,
    ) -> Entry:
        start = os.fstat(fd).st_size
        if offset != start:
            raise OffsetMismatch(start)
        hasher = hashlib.new(checksum.algorithm) if checksum is not None else None
        # An append from the first byte hashes the file as it writes it, so completing it needs
        # no second read of the whole file (resumed uploads are hashed at completion).
        whole = hashlib.sha256() if start == 0 else None
        # Advanced by the worker thread after each write, so even a request cancelled while a
        # write runs knows exactly how far the data got.
        written = _Written(start)
        hashes = ChunkHashes(hasher, whole)
        try:
            async for chunk in chunks:
                if written.position + len(chunk) > entry.length:
                    raise TooLarge("the body goes past the declared Upload-Length")
                await _settled(functools.partial(_write_at, fd, chunk, written, hashes))
            await _settled(hashes.wait)
            if hasher is not None and checksum is not None and hasher.digest() != checksum.digest:
                raise ChecksumMismatch(entry.id)
        except InsufficientSpace as full:
            # Keep what is fully written (the client resumes from there), fsynced, and say where.
            reached = start if hasher is not None else written.position
            await _settled(lambda: _truncate_sync(fd, reached))
            self._log.warning(
                "dropbox.upload.no_space", extra={"fields": {"id": entry.id, "offset": reached}}
            )
            raise InsufficientSpace(reached) from full
        except (TooLarge, ChecksumMismatch):
            await _settled(lambda: _truncate_sync(fd, start))
            raise
        except BaseException:
            # The body stopped early: keep what arrived unless a checksum was to vouch for it.
            kept = start if hasher is not None else written.position
            await _settled(lambda: _truncate_sync(fd, kept))
            raise
        finally:
            hashes.close()
        position = written.position
        await _settled(lambda: os.fsync(fd))
        if position < entry.length:
            return _replace_offset(entry, position)
        try:
            digest = None if whole is None else whole.hexdigest()
            return await _settled(lambda: self._complete(entry.id, sha256=digest))
        except OSError as exc:
            # All data is in and durable but the final metadata did not fit: the upload stays
            # partial at its full length; an append of nothing (or reopening) finishes it.
            if exc.errno in _FULL:
                raise InsufficientSpace(position) from exc
            raise

    # -- completion --------------------------------------------------------------------------

    def _complete(self, upload_id: str, *, sha256: str | None = None) -> Entry:
        """Finish an upload whose data is all in; `sha256` when its writer hashed it all."""
        with disk.opened_dir(upload_id, dir_fd=self._partial_fd) as dir_fd:
            meta = disk.read_meta(dir_fd)
            fd = disk.open_data(dir_fd, os.O_RDONLY)
            try:
                os.fsync(fd)
                meta["sha256"] = sha256 if sha256 is not None else _sha256_of(fd)
            finally:
                os.close(fd)
            meta["expires"] = None
            disk.write_meta(dir_fd, meta)
        os.rename(upload_id, upload_id, src_dir_fd=self._partial_fd, dst_dir_fd=self._files_fd)
        disk.fsync_dir(self._files_fd)
        disk.fsync_dir(self._partial_fd)
        self._log.info(
            "dropbox.upload.completed",
            extra={"fields": {"id": upload_id, "length": meta["length"], "sha256": meta["sha256"]}},
        )
        return _entry(upload_id, meta, int(meta["length"]), complete=True)

    # -- termination and expiry --------------------------------------------------------------

    async def terminate(self, owner: str, upload_id: str) -> None:
        """Remove an upload or a finished file of owner (UploadBusy while an append runs)."""
        entry = await self.get(owner, upload_id)
        await _settled(lambda: self._remove(entry))
        self._log.info(
            "dropbox.upload.terminated", extra={"fields": {"id": upload_id, "owner": owner}}
        )

    def _remove(self, entry: Entry) -> None:
        parent = self._files_fd if entry.complete else self._partial_fd
        # Held until the upload is gone, so no append can start on it meanwhile; refused
        # while an append holds it.
        lock = -1 if entry.complete else self._lock_data(entry.id)
        try:
            gone = _DEL + entry.id
            os.rename(entry.id, gone, src_dir_fd=parent, dst_dir_fd=parent)
            disk.fsync_dir(parent)
            disk.remove_tree(gone, dir_fd=parent)
        finally:
            if lock >= 0:
                os.close(lock)

    async def expire(self) -> list[str]:
        """Remove partial uploads past their expiry; the ids removed."""
        return [entry.id for entry in await self.expire_entries()]

    async def expire_entries(self) -> list[Entry]:
        """Remove partial uploads past their expiry; what they were (owners included)."""
        return await asyncio.to_thread(self._expire)

    def _expire(self) -> list[Entry]:
        removed: list[Entry] = []
        for entry in self._all():
            if self._expired(entry):
                try:
                    self._remove(entry)
                except (UploadBusy, FileNotFoundError):
                    continue
                removed.append(entry)
        if removed:
            self._log.info(
                "dropbox.upload.expired", extra={"fields": {"ids": [e.id for e in removed]}}
            )
        return removed

    # -- reading -----------------------------------------------------------------------------

    async def open_file(self, owner: str, file_id: str) -> StoredFile:
        """A finished file of owner opened for reading; NotFound for anything else."""
        return await asyncio.to_thread(self._open_file, owner, file_id)

    def _open_file(self, owner: str, file_id: str) -> StoredFile:
        entry = self._get(owner, file_id)
        if not entry.complete:
            raise NotFound(file_id)
        with disk.opened_dir(file_id, dir_fd=self._files_fd) as dir_fd:
            fd = disk.open_data(dir_fd, os.O_RDONLY)
        return StoredFile(entry=entry, fd=fd)

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self) -> None:
        """Clear half-made and half-removed directories, finish uploads whose data is all in."""
        for parent in (self._partial_fd, self._files_fd):
            for name in os.listdir(parent):
                if name.startswith((_NEW, _DEL)):
                    disk.remove_tree(name, dir_fd=parent)
                    self._log.info("dropbox.store.cleared", extra={"fields": {"entry": name}})
                elif is_id(name):
                    try:
                        with disk.opened_dir(name, dir_fd=parent) as fd:
                            os.unlink(disk.META_TMP, dir_fd=fd)
                    except FileNotFoundError:
                        pass
                    except UnsafeStorage:
                        self._log.warning("dropbox.store.unsafe", extra={"fields": {"entry": name}})
        for entry in self._all():
            if not entry.complete and entry.offset == entry.length:
                self._complete(entry.id)
                self._log.info("dropbox.store.recovered", extra={"fields": {"id": entry.id}})


class _Written:
    """How far one append's data is fully written."""

    def __init__(self, position: int) -> None:
        self.position = position


def _write_at(fd: int, chunk: bytes, written: _Written, hashes: ChunkHashes) -> None:
    """Write one chunk in the worker thread while the hashing thread hashes it (for a
    checksum, and the file's sha256): hashing is CPU the event loop should not spend, and
    hashlib and pwrite both release the GIL, so the two run at once. The hashes may see a
    chunk whose write then fails; that ends the append, and with it any use of them. The
    chunk's writeback starts at once (writeback.py), so the closing fsync finds it done."""
    hashes.feed(chunk)
    try:
        before = written.position
        written.position += disk.write_all(fd, chunk, before)
        start_writeback(fd, before, len(chunk))
    except OSError as exc:
        written.position += getattr(exc, "written", 0)
        if exc.errno in _FULL:
            raise InsufficientSpace(written.position) from exc
        raise


def _truncate_sync(fd: int, size: int) -> None:
    os.ftruncate(fd, size)
    os.fsync(fd)


def _sha256_of(fd: int) -> str:
    digest = hashlib.sha256()
    position = 0
    while block := os.pread(fd, _HASH_BLOCK, position):
        digest.update(block)
        position += len(block)
    return digest.hexdigest()


def _entry(upload_id: str, meta: dict[str, Any], offset: int, *, complete: bool) -> Entry:
    expires = meta.get("expires")
    return Entry(
        id=upload_id,
        owner=str(meta["owner"]),
        name=meta.get("name"),
        length=int(meta["length"]),
        offset=offset,
        complete=complete,
        sha256=meta.get("sha256") if complete else None,
        metadata={str(key): bytes.fromhex(value) for key, value in dict(meta["metadata"]).items()},
        created=float(meta["created"]),
        expires=None if expires is None else float(expires),
    )


def _replace_offset(entry: Entry, offset: int) -> Entry:
    return Entry(
        id=entry.id,
        owner=entry.owner,
        name=entry.name,
        length=entry.length,
        offset=offset,
        complete=False,
        sha256=None,
        metadata=entry.metadata,
        created=entry.created,
        expires=entry.expires,
    )
