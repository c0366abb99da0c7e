"""A minimal HTTP/1.1 streaming client on asyncio streams, for the load generator.

It does as little as possible per byte so that the load generator stays cheap: one request
per exchange on a kept-alive connection, chunked transfer decoding, and SSE events counted as
occurrences of a line prefix in the raw bytes (no line splitting, no JSON parsing): ``data:``
for OpenAI chat chunks (one ``data:`` line each, ``[DONE]`` included), ``event:`` for the
Anthropic Messages and OpenAI Responses streams (one ``event:`` line per event, followed by
its ``data:`` line).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DATA = "data:"
EVENT = "event:"
MARKERS = (DATA, EVENT)
"""The line prefixes that may count as one SSE event."""

OnEvents = Callable[[int], None]
"""Called with how many SSE ``data:`` events just arrived (when more than none)."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}"

    def post(self, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
        """The complete bytes of a JSON POST that asks for an event stream (``headers``:
        more header lines, e.g. ``anthropic-version``)."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"POST {path} HTTP/1.1\r\n"
            f"Host: {self.authority}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: text/event-stream\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        )
        return head.encode("ascii") + body


@dataclass(slots=True)
class Reply:
    status: int
    events: int
    """SSE events in the body: lines that start with the exchange's marker."""
    sent_at: float
    first_byte_at: float
    """perf_counter() when the first byte of the response (its status line) arrived."""
    first_event_at: float | None
    ended_at: float


class ProtocolError(Exception):
    """The server answered something this client does not understand."""


class Connection:
    """One kept-alive connection; reconnects on the next exchange after a close."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(
                self.target.host, self.target.port
            )
        return self._reader, self._writer

    def close(self) -> None:
        """Drop the connection at once (a client going away mid-stream)."""
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def exchange(
        self, request: bytes, on_events: OnEvents | None = None, *, marker: str = DATA
    ) -> Reply:
        """Send ``request`` and read the whole response, counting the lines that start with
        ``marker`` as events; a failure closes the connection."""
        try:
            return await self._exchange(request, on_events, marker)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, request: bytes, on_events: OnEvents | None, marker: str) -> Reply:
        reader, writer = await self._open()
        sent_at = time.perf_counter()
        writer.write(request)
        first = await reader.readexactly(1)
        first_byte_at = time.perf_counter()
        head = first + await reader.readuntil(b"\r\n\r\n")
        try:
            status = int(head[9:12])
        except ValueError as exc:
            raise ProtocolError(f"bad status line: {head[:40]!r}") from exc
        lowered = head.lower()
        counter = _EventCounter(on_events, marker)
        if b"transfer-encoding: chunked" in lowered:
            await _read_chunked(reader, counter)
        else:
            length = _content_length(lowered)
            if length is None:
                counter.feed(await reader.read(-1))
                self.close()
            else:
                counter.feed(await reader.readexactly(length))
        if b"connection: close" in lowered:
            self.close()
        return Reply(
            status=status,
            events=counter.events,
            sent_at=sent_at,
            first_byte_at=first_byte_at,
            first_event_at=counter.first_event_at,
            ended_at=time.perf_counter(),
        )


class _EventCounter:
    __slots__ = ("_event", "_on_events", "_tail", "_tail_size", "events", "first_event_at")

    def __init__(self, on_events: OnEvents | None, marker: str) -> None:
        if marker not in MARKERS:
            raise ValueError(f"event marker {marker!r} is not one of {MARKERS}")
        self._event = b"\n" + marker.encode("ascii")
        self._tail_size = len(self._event) - 1
        self._on_events = on_events
        self._tail = b"\n"  # the body starts a line
        self.events = 0
        self.first_event_at: float | None = None

    def feed(self, data: bytes) -> None:
        # An event marker may straddle two pieces: count whole ones inside `data`, plus those
        # that start in the previous piece's last bytes (too short to hold a whole marker).
        event, size = self._event, self._tail_size
        found = data.count(event) + (self._tail + data[:size]).count(event)
        self._tail = (self._tail + data)[-size:] if len(data) < size else data[-size:]
        if found:
            if self.first_event_at is None:
                self.first_event_at = time.perf_counter()
            self.events += found
            if self._on_events is not None:
                self._on_events(found)


async def _read_chunked(reader: asyncio.StreamReader, counter: _EventCounter) -> None:
    while True:
        line = await reader.readline()
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError as exc:
            raise ProtocolError(f"bad chunk size line: {line[:40]!r}") from exc
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # trailers
            return
        data = await reader.readexactly(size + 2)
        counter.feed(data[:-2])


def _content_length(lowered_head: bytes) -> int | None:
    marker = b"\r\ncontent-length:"
    start = lowered_head.find(marker)
    if start < 0:
        return None
    end = lowered_head.index(b"\r\n", start + 2)
    return int(lowered_head[start + len(marker) : end])
