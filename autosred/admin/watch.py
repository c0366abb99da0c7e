"""``GET /v1/watch``: the NDJSON stream a live view (``autosrectl watch``) subscribes to.

One task per watcher writes a frame every ``interval`` and each request event as it comes.
Back-pressure is the socket's: a write waits while the watcher's receive window and our send
buffer are full, and while it waits nothing more is built for that watcher, so a slow watcher
costs one frame in hand and a bounded backlog of request events (the Control drops the oldest
of those), never memory that grows and never time on the request path. The next frame is
built when its time comes after the last write, so frames missed while a write waited are
skipped, not queued: the watcher sees the latest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from autosred.admin.control import Control, ControlError
from autosred.admin.schema import (
    NDJSON,
    WATCH_INTERVAL_DEFAULT,
    WATCH_INTERVAL_MAX,
    WATCH_INTERVAL_MIN,
    ApiError,
    RequestRecord,
    WatchLine,
    dumps,
)

_GOODBYE_TIMEOUT = 1.0
"""Seconds the closing error line may wait for a watcher that does not read (at shutdown)."""


def watch_interval(query: Mapping[str, str]) -> float:
    """The ``interval`` query parameter in seconds; ControlError bad_request when it is not a
    number within bounds (a watcher asking for 1000 frames a second would cost the daemon)."""
    raw = query.get("interval")
    if raw is None:
        return WATCH_INTERVAL_DEFAULT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not WATCH_INTERVAL_MIN <= value <= WATCH_INTERVAL_MAX:  # NaN fails this too
        raise ControlError.of(
            "bad_request",
            f"interval must be a number of seconds from {WATCH_INTERVAL_MIN:g} to "
            f"{WATCH_INTERVAL_MAX:g}, got {raw!r}",
        )
    return value


async def watch(
    request: web.Request, *, control: Control, stop: asyncio.Event, log: logging.Logger
) -> web.StreamResponse:
    """Serve one watcher until it leaves or the daemon stops."""
    interval = watch_interval(request.query)
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    await response.prepare(request)
    log.info("admin.watch_started", extra={"fields": {"interval": interval}})
    pump = asyncio.ensure_future(_pump(response, control, interval))
    stopping = asyncio.ensure_future(stop.wait())
    reason = "watcher_gone"
    try:
        await asyncio.wait({pump, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if pump.done():
            if not pump.cancelled() and pump.exception() is not None:
                reason = "failed"
                log.error(
                    "admin.watch_failed",
                    exc_info=pump.exception(),
                    extra={"fields": {"interval": interval}},
                )
                await _goodbye(response, "internal", "the watch stream failed (see the daemon log)")
        else:
            reason = "shutting_down"
            await _cancel(pump)
            await _goodbye(response, "unavailable", "autosred is shutting down")
    finally:
        await _cancel(pump)
        stopping.cancel()
        log.info("admin.watch_ended", extra={"fields": {"reason": reason}})
    return response


async def _pump(response: web.StreamResponse, control: Control, interval: float) -> None:
    """Write frames and request events until the watcher goes (returns) or a bug (raises)."""
    loop = asyncio.get_running_loop()
    events = control.watch_requests()
    pending: asyncio.Future[RequestRecord] = asyncio.ensure_future(anext(events))
    next_frame = loop.time()
    try:
        while True:
            if pending.done():
                try:
                    record = pending.result()
                except StopAsyncIteration:
                    # No more events (the daemon is closing them): frames go on alone.
                    pending = loop.create_future()
                else:
                    pending = asyncio.ensure_future(anext(events))
                    if not await _write(response, WatchLine(request=record)):
                        return
            now = loop.time()
            if now >= next_frame:
                frame = await control.watch_frame()
                if not await _write(response, WatchLine(frame=frame)):
                    return
                next_frame += interval
                now = loop.time()
                if next_frame <= now:
                    # A write waited past the next frame's time: skip to a fresh one.
                    next_frame = now + interval
            await asyncio.wait({pending}, timeout=next_frame - now)
    finally:
        await _cancel(pending)
        await _aclose(events)


async def _write(response: web.StreamResponse, line: WatchLine) -> bool:
    """One NDJSON record; False when the watcher has gone."""
    try:
        await response.write(dumps(line.to_json()) + b"\n")
    except ConnectionError:
        return False
    return True


async def _goodbye(response: web.StreamResponse, type: str, message: str) -> None:
    """The in-band error line that ends the stream, if the watcher takes it soon enough."""
    line = dumps(ApiError(type=type, message=message).to_json()) + b"\n"
    with contextlib.suppress(ConnectionError, TimeoutError):
        async with asyncio.timeout(_GOODBYE_TIMEOUT):
            await response.write(line)
            await response.write_eof()


async def _cancel(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.cancel()
    await asyncio.wait({future})


async def _aclose(events: AsyncIterator[RequestRecord]) -> None:
    # Async generators need an explicit close so their `finally` (unsubscribing) runs now.
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
