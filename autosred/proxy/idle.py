"""The model server's answer, read under an idle deadline of the relay's own.

``api.upstream_read_timeout`` fails a request whose server stays silent that long mid-answer.
aiohttp's ``sock_read`` timeout does that by cancelling and re-creating a timer on every read
from the socket (a ``TimerHandle`` and a heap push each time, and the cancelled handles left
in the loop's heap): about 3% of the daemon's CPU on a streaming relay (BENCHMARKS.md, *The
daemon's own CPU per event*). ``UpstreamReader`` instead notes when the relay starts and ends
each wait and arms one timer per deadline, checked when it fires: a stream that keeps talking
costs one timer per ``upstream_read_timeout``, not one per read.

Only the relay's waits count: time spent writing to a slow client is not the server's silence
(aiohttp's timer stops too while its reading is paused). Until the first read of the body,
aiohttp's own timer, armed when the head arrived, still runs: it is turned off for the body
only, and the next bytes from the socket cancel it.
"""

from __future__ import annotations

import asyncio

import aiohttp

SILENT = "the model server sent nothing for {:g} s (api.upstream_read_timeout)"


class UpstreamReader:
    """``read`` the body of ``upstream`` as it comes; a read that waits ``timeout`` seconds
    raises ``aiohttp.ServerTimeoutError``, as aiohttp's ``sock_read`` would. ``close`` when
    done (the relay's ``finally``)."""

    __slots__ = ("_content", "_handle", "_loop", "_timeout", "_waiting_since")

    def __init__(self, upstream: aiohttp.ClientResponse, timeout: float | None) -> None:
        self._content = upstream.content
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._waiting_since: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        connection = upstream.connection
        if timeout and connection is not None and connection.protocol is not None:
            # Reset for the connection's next request (set_response_params), so only this
            # body is read without it.
            connection.protocol.read_timeout = None
            self._handle = self._loop.call_at(self._loop.time() + timeout, self._check)

    async def read(self) -> bytes:
        """What the server sent since the last read (``b""``: the end of the answer)."""
        self._waiting_since = self._loop.time()
        data = await self._content.readany()
        self._waiting_since = None
        return data

    def at_eof(self) -> bool:
        """Whether the whole answer has been read."""
        return self._content.at_eof()

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
            self._content.set_exception(aiohttp.ServerTimeoutError(SILENT.format(timeout)))
            return
        # Busy writing (since is None) or waiting for less than the deadline: look again
        # when a wait that started now, or the current one, would reach it.
        start = now if since is None else since
        self._handle = self._loop.call_at(start + timeout, self._check)
