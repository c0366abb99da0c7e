"""Downloads: a finished file streamed from the store, never rendered by a browser.

Every download is `application/octet-stream` with `Content-Disposition: attachment` (the
name as RFC 6266 `filename*`), `X-Content-Type-Options: nosniff` and
`Content-Security-Policy: sandbox`: a stored HTML or SVG file is saved, never shown, so it
cannot run script on the dropbox's origin (transfer.sh's inline-HTML XSS). The ETag is the
file's sha256.

The file is read in pieces in a worker thread, the next one while the last is written as
the client takes it (each write waits for the socket to drain), so the disk and the socket
work at once, yet neither the file nor a slow reader's backlog sits in memory (two pieces
at most) and the event loop never blocks; a reader that takes nothing for the body idle
time is cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from autosred.dropbox.routes.answers import Refusal
from autosred.dropbox.routes.headers import Unsatisfiable, attachment, byte_range
from autosred.dropbox.storage import Entry, StoredFile
from autosred.metrics import Metrics

PIECE = 1 << 20


def _read(stored: StoredFile, position: int, end: int) -> asyncio.Future[bytes]:
    return asyncio.ensure_future(stored.read(position, min(PIECE, end - position)))


def file_headers(entry: Entry) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": attachment(entry.name, entry.id),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "ETag": f'"{entry.sha256}"',
        "Cache-Control": "no-store",
    }


def span_of(request: web.Request, entry: Entry) -> tuple[int, int, str | None]:
    """[start, end) of the file to send and its Content-Range (None: the whole file, 200)."""
    ranges = request.headers.getall("Range", [])
    if_range = request.headers.getall("If-Range", [])
    # A stale If-Range (another ETag, or a date: the dropbox sends no Last-Modified) asks
    # for the whole file; two Range headers are as malformed as a bad one: ignored.
    if len(ranges) != 1 or (if_range and if_range != [f'"{entry.sha256}"']):
        return 0, entry.length, None
    try:
        span = byte_range(ranges[0], entry.length)
    except Unsatisfiable as exc:
        raise Refusal(
            416,
            "range",
            "the range is past the end of the file",
            headers={"Content-Range": f"bytes */{entry.length}"},
        ) from exc
    if span is None:
        return 0, entry.length, None
    return span.start, span.end, span.content_range


def head_answer(request: web.Request, entry: Entry, *, ranges: bool) -> web.Response:
    """What a GET would answer, without the body."""
    start, end, content_range = span_of(request, entry) if ranges else (0, entry.length, None)
    headers = file_headers(entry)
    if ranges:
        headers["Accept-Ranges"] = "bytes"
    if content_range is not None:
        headers["Content-Range"] = content_range
    headers["Content-Length"] = str(end - start)
    return web.Response(status=206 if content_range else 200, headers=headers)


async def stream(
    request: web.Request,
    stored: StoredFile,
    *,
    ranges: bool,
    via: str,
    metrics: Metrics,
    idle: float,
    pace: Callable[[int], Awaitable[None]],
    log: logging.Logger,
) -> web.StreamResponse:
    """Send a finished file (a Range of it when `ranges`), closing `stored` at the end;
    `pace` (the dropbox's TransferPacer) is awaited before each piece goes out."""
    try:
        entry = stored.entry
        start, end, content_range = span_of(request, entry) if ranges else (0, entry.length, None)
        response = web.StreamResponse(
            status=206 if content_range else 200, headers=file_headers(entry)
        )
        if ranges:
            response.headers["Accept-Ranges"] = "bytes"
        if content_range is not None:
            response.headers["Content-Range"] = content_range
        response.content_length = end - start
        position, outcome = start, "complete"
        # The next piece is read from the disk while this one goes out, not in turns.
        ahead: asyncio.Future[bytes] | None = None
        try:
            await response.prepare(request)
            if position < end:
                ahead = _read(stored, position, end)
            while ahead is not None:
                data = await ahead
                ahead = None
                if not data:
                    outcome = "short"  # the data is shorter than its metadata says
                    break
                if position + len(data) < end:
                    ahead = _read(stored, position + len(data), end)
                await pace(len(data))  # outside the write's deadline: not the reader's idling
                # A timeout scope rather than wait_for: no task is made for each write.
                async with asyncio.timeout(idle):
                    await response.write(data)
                position += len(data)
            if outcome == "complete":
                await response.write_eof()
        except TimeoutError:
            outcome = "stalled"
        except ConnectionError:
            outcome = "client_gone"
        finally:
            if ahead is not None:  # its thread still reads stored.fd: let it finish first
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: the answer is already cut, its error moot
        if outcome != "complete" and request.transport is not None:
            request.transport.abort()  # the answer is cut: never leave it looking whole
    finally:
        stored.close()
    metrics.dropbox_sent_bytes.inc(position - start)
    log.info(
        "dropbox.download",
        extra={
            "fields": {
                "id": entry.id,
                "owner": entry.owner,
                "via": via,
                "status": response.status,
                "from": start,
                "bytes": position - start,
                "outcome": outcome,
                "peer": request.remote,
            }
        },
    )
    return response
