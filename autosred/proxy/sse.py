"""Server-sent events plumbing shared by the streaming surfaces."""

from __future__ import annotations

from aiohttp import web

from autosred.scaler import WaitInfo

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


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
