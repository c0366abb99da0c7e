"""The model server's answer, read under an idle deadline of the relay's own.

``api.upstream_read_timeout`` fails a request whose server stays silent that long. A timer
re-armed on every read from the socket (aiohttp's ``sock_read``: a ``TimerHandle`` and a heap
push each time, the cancelled handles left in the loop's heap) cost about 3% of the daemon's
CPU on a streaming relay (BENCHMARKS.md, *The daemon's own CPU per event*). ``IdleDeadline``
instead notes when the relay starts and ends each wait and arms one timer per deadline,
checked when it fires: a stream that keeps talking costs one timer per
``upstream_read_timeout``, not one per read.

Only the relay's waits count (the head, then each read of the body): time spent writing to a
slow client is not the server's silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class IdleDeadline:
    """Calls ``expired`` once a wait (between ``waiting`` and ``done_waiting``) has lasted
    ``timeout`` seconds (None: never). ``close`` when the answer is done."""

    __slots__ = ("_expired", "_handle", "_loop", "_timeout", "_waiting_since")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, timeout: float | None, expired: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._timeout = timeout
        self._expired = expired
        self._waiting_since: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        if timeout:
            self._handle = loop.call_at(loop.time() + timeout, self._check)

    def waiting(self) -> None:
        self._waiting_since = self._loop.time()

    def done_waiting(self) -> None:
        self._waiting_since = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        timeout = self._timeout
        assert timeout is not None
        since = self._waiting_since
        now = self._loop.time()
        if since is not None and now - since >= timeout:
            self._handle = None
            self._expired()
            return
        # Busy writing (since is None) or waiting for less than the deadline: look again
        # when a wait that started now, or the current one, would reach it.
        start = now if since is None else since
        self._handle = self._loop.call_at(start + timeout, self._check)
