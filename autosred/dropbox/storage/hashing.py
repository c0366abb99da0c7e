"""An append's digests computed on a thread of their own, beside the thread that writes.

Hashing a piece (sha256 runs at about the speed of writing it to the page cache) and writing
it used to run one after the other in one worker thread, which halved an upload's rate. Both
release the GIL, so here the digests of piece N are computed while piece N is written and
piece N+1 is read from the socket: the write thread hands each piece over and waits only for
the previous piece's hashing, so the hash lags at most one piece behind and the data in
memory stays bounded.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any


class ChunkHashes:
    """The digests of one append's data (the tus checksum and the file's sha256), fed in order
    from one writer thread and updated on a single hashing thread, so the order is kept."""

    def __init__(self, *hashers: Any) -> None:
        self._hashers = [hasher for hasher in hashers if hasher is not None]
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dropbox-hash")
            if self._hashers
            else None
        )
        self._pending: concurrent.futures.Future[None] | None = None

    def feed(self, chunk: bytes) -> None:
        """Hand `chunk` to the hashing thread (called from the writer thread), after the
        previous piece is hashed."""
        if self._pool is None:
            return
        self.wait()
        self._pending = self._pool.submit(self._update, chunk)

    def _update(self, chunk: bytes) -> None:
        for hasher in self._hashers:
            hasher.update(chunk)

    def wait(self) -> None:
        """Block until every piece fed so far is hashed (a worker thread's call)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Let the hashing thread end once its last piece is done, without waiting for it: on
        the way out of a failed append nothing reads these digests any more."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
