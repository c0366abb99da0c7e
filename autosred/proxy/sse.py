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
