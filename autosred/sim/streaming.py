"""Sending a generation: SSE frames with pacing, failure injection and disconnect detection.

Everything a stream will send is serialised before the first byte (`Frames`), so the hot loop
only paces and writes. When unpaced, the loop yields to the event loop every few frames so that
concurrent streams interleave instead of one stream hogging the loop.

A client that goes away is noticed either by a failing write (aiohttp raises a
ConnectionResetError subclass), by the connection's transport disappearing (checked while
waiting), or by the handler task being cancelled (`running_sim` enables aiohttp's
handler_cancellation). All three end as `ClientGone`, and the request is recorded "aborted".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from autosred.sim.records import RequestRecord
from autosred.sim.state import SimState

DONE_FRAME = b"data: [DONE]\n\n"
_YIELD_EVERY = 8  # unpaced frames written between two yields to the event loop
_POLL_SECONDS = 0.05  # how often a waiting handler looks for a vanished client

SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class _Interrupted(Exception):
    def __init__(self) -> None:
        super().__init__()
        self.response: web.StreamResponse | None = None
        """The response already started, if any (the handler returns it to aiohttp)."""


class ClientGone(_Interrupted):
    """The client disconnected before the response finished."""


class ConnectionDropped(_Interrupted):
    """The simulator cut the connection on purpose (`drop_after`)."""


@dataclass(slots=True)
class Frames:
    """A stream as bytes: `head` (the role chunk), one `body` frame per output piece (each a
    completion token), then `tail` (usage chunk, `[DONE]`)."""

    head: list[bytes] = field(default_factory=list)
    body: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Faults:
    """Timing and failure injection of one reply (from its spec)."""

    delay: float = 0.0
    tokens_per_second: float = 0.0
    drop_after: int | None = None
    hang_after: int | None = None


def sse(payload: str) -> bytes:
    return f"data: {payload}\n\n".encode()


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def sleep_watching(request: web.Request, seconds: float) -> None:
    """Sleep, but raise ClientGone as soon as the client disconnects."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        if client_gone(request):
            raise ClientGone
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, _POLL_SECONDS))


async def hang_until_gone(request: web.Request) -> None:
    """Stall until the client goes away (then ClientGone)."""
    while not client_gone(request):
        await asyncio.sleep(_POLL_SECONDS)
    raise ClientGone


def drop_connection(request: web.Request) -> None:
    """Close the TCP connection mid-response. Bytes already written are flushed first (that is
    asyncio's close()), so the client sees exactly the frames sent, then the cut."""
    transport = request.transport
    if transport is not None:
        transport.close()
    raise ConnectionDropped


async def send_stream(
    request: web.Request,
    *,
    state: SimState,
    record: RequestRecord,
    frames: Frames,
    faults: Faults,
) -> web.StreamResponse:
    """Write the frames as an SSE response (200), honouring the faults. Raises ClientGone or
    ConnectionDropped when the response does not end normally."""
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    try:
        await response.prepare(request)
        if faults.delay:
            await sleep_watching(request, faults.delay)
        for frame in frames.head:
            await response.write(frame)
        await _write_body(
            request, response, state=state, record=record, body=frames.body, faults=faults
        )
        if faults.drop_after is not None:
            drop_connection(request)
        if faults.hang_after is not None:
            await hang_until_gone(request)
        for frame in frames.tail:
            await response.write(frame)
        await response.write_eof()
    except ConnectionResetError as exc:
        gone = ClientGone()
        gone.response = response
        raise gone from exc
    except _Interrupted as exc:
        exc.response = response
        raise
    return response


async def _write_body(
    request: web.Request,
    response: web.StreamResponse,
    *,
    state: SimState,
    record: RequestRecord,
    body: list[bytes],
    faults: Faults,
) -> None:
    limit = len(body)
    for fault in (faults.drop_after, faults.hang_after):
        if fault is not None:
            limit = min(limit, fault)
    rate = faults.tokens_per_second
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(limit):
        if rate > 0:
            # An absolute schedule, so slow writes do not make the stream drift slower.
            wait = started + index / rate - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        elif index % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        if index == 0:
            state.first_token(record.received_at)
        await response.write(body[index])
        record.chunks_sent += 1
        state.tokens_generated(1)
    if limit < len(body) and faults.drop_after is not None and faults.drop_after == limit:
        drop_connection(request)
    if limit < len(body) and faults.hang_after is not None and faults.hang_after == limit:
        await hang_until_gone(request)


async def answer_after_faults(request: web.Request, faults: Faults, pieces: int) -> None:
    """The non-streaming counterpart: wait the delay, then drop or hang if asked. A non-streamed
    reply has no partial state to show, so drop/hang happen before any byte."""
    if faults.delay:
        await sleep_watching(request, faults.delay)
    if faults.tokens_per_second > 0 and pieces:
        # The whole generation takes as long as streaming it would.
        await sleep_watching(request, pieces / faults.tokens_per_second)
    if faults.drop_after is not None:
        drop_connection(request)
    if faults.hang_after is not None:
        await hang_until_gone(request)


@contextlib.asynccontextmanager
async def generation_in_flight(
    state: SimState, record: RequestRecord, prompt_tokens: int, prompt: str
) -> AsyncIterator[None]:
    """Once the request has its place in the running batch, count it as running (metrics, KV
    load) for the duration of the block; ``prompt``: its text as the model reads it (for the
    prefix cache)."""
    async with state.batch_place():
        state.generation_started(prompt_tokens, prompt)
        sent_before = record.chunks_sent
        try:
            yield None
        finally:
            state.generation_ended(prompt_tokens + record.chunks_sent - sent_before)
