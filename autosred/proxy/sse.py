"""Server-sent events plumbing shared by the streaming surfaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from aiohttp import web

from autosred.proxy.exchange import Exchange
from autosred.scaler import WaitInfo

EventT = TypeVar("EventT")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class CoalescedStreamResponse(web.StreamResponse):
    """A streamed answer whose status line and headers go out in the same write (one send)
    as its first bytes, rather than in a send of their own when it is prepared: a loopback or
    LAN send costs the daemon more CPU than the Python around it (BENCHMARKS.md, *The daemon's
    own CPU per event*). ``flush_headers`` sends them alone, for a stream whose first bytes
    are not ready (a long prefill)."""

    # aiohttp buffers the head until the first write when this is False (what its Response
    # does for a whole body). Should the attribute go, prepare() sends the head at once again:
    # the same bytes, one send more.
    _send_headers_immediately = False

    async def flush_headers(self) -> None:
        """Send the status line and headers now if they still wait for the first bytes."""
        await self.write(b"")  # an empty write sends only what is buffered: the head


async def open_event_stream(request: web.Request, response: web.StreamResponse) -> None:
    if not response.prepared:
        response.headers.update(SSE_HEADERS)
        await response.prepare(request)


def waking_comment(info: WaitInfo) -> bytes:
    """An SSE comment line: ignored by every SSE parser, but it keeps proxies and clients from
    timing out and tells a human with curl what is going on."""
    eta = f"{info.eta_seconds:.0f}s" if info.eta_seconds is not None else "unknown"
    phase = info.phase or "queued"
    return f": waking model={info.model} phase={phase} eta={eta}\n\n".encode()


KEEPALIVE_COMMENT = b": keep-alive: waiting for the first token\n\n"
"""Sent by the pass-through while a streamed answer's first byte is awaited (a long prefill):
SSE parsers ignore comments; proxies and idle timers see a live connection."""


class EventStream(Generic[EventT]):
    """The 200 of one streaming request, opened by whichever comes first: a ``: waking …``
    comment while the gate holds the request (``waking``, its ``on_wait``), the first events
    (``emit``, each call one write; the first counts as the time to first byte), or the
    pass-through's ``open`` with the model server's content type.

    One send per write: the head goes out with the first bytes (``CoalescedStreamResponse``)
    and the last bytes with the end of the chunked body (``finish``, ``end``)."""

    __slots__ = ("_encode", "_exchange", "_request", "response")

    def __init__(
        self,
        request: web.Request,
        exchange: Exchange,
        encode: Callable[[list[EventT]], bytes],
    ) -> None:
        self.response = CoalescedStreamResponse(status=200)
        self._request = request
        self._exchange = exchange
        self._encode = encode

    async def waking(self, info: WaitInfo) -> None:
        await open_event_stream(self._request, self.response)
        await self.response.write(waking_comment(info))

    async def emit(self, events: list[EventT]) -> None:
        response = self.response
        if not response.prepared:
            await open_event_stream(self._request, response)
        self._exchange.first_byte()
        await response.write(self._encode(events))

    async def finish(self, events: list[EventT]) -> None:
        """Emit the last ``events`` and end the stream, in one write."""
        response = self.response
        if not events:
            await response.write_eof()
            return
        if not response.prepared:
            await open_event_stream(self._request, response)
        self._exchange.first_byte()
        await response.write_eof(self._encode(events))

    async def open(self, content_type: str | None) -> None:
        """Prepare the 200 with ``content_type`` (unless a wake comment sent it already); it
        goes out with the first bytes, or at ``flush_headers``."""
        response = self.response
        if not response.prepared:
            if content_type is not None:
                response.headers["Content-Type"] = content_type
            await response.prepare(self._request)

    async def flush_headers(self) -> None:
        await self.response.flush_headers()

    async def write(self, data: bytes) -> None:
        self._exchange.first_byte()
        await self.response.write(data)

    async def end(self, data: bytes) -> None:
        """Write the last ``data`` and end the stream, in one write."""
        if data:
            self._exchange.first_byte()
        await self.response.write_eof(data)

    async def keepalive_comment(self) -> None:
        await self.response.write(KEEPALIVE_COMMENT)


class SSEDecoder:
    """Upstream SSE bytes -> the ``data`` of each event, in order (sans-IO).

    Network reads split lines anywhere, so an incomplete line waits for the next ``feed``.
    Comments and the ``event``/``id``/``retry`` fields are ignored: the OpenAI-style streams read
    here carry everything in ``data``. Several ``data`` lines of one event are joined by "\\n",
    as the SSE spec says; an event cut off before its blank line is never returned.
    """

    __slots__ = ("_data", "_partial")

    def __init__(self) -> None:
        self._partial = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._partial + chunk if self._partial else chunk
        end = buffer.rfind(b"\n")
        if end < 0:
            self._partial = buffer
            return []
        self._partial = buffer[end + 1 :]
        events: list[bytes] = []
        data = self._data
        for raw in buffer[:end].split(b"\n"):
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if data:
                    events.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
        return events
