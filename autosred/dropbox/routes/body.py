"""A request body as the store's chunk stream, read ahead, and cut when it stalls.

aiohttp has no body deadline: a client that sends its headers and then a byte a minute would
hold an upload's lock (and a worker's file descriptor) for as long as it liked. Each read
here waits at most `idle` seconds; a stall raises BodyStalled after what had arrived is
handed on, so the store keeps (and fsyncs) every byte that came, and that is the offset the
client resumes from.

Reads are gathered into pieces of up to `PIECE` bytes: each piece is one write in a worker
thread, and TLS hands data over in records of 16 KiB; one thread hop per record would cost
more than the write. A reader task keeps up to `AHEAD` pieces ready while the store writes
the last one, so the socket is read while the disk is written rather than in turns.

`pace` (the dropbox's TransferPacer) is awaited before each piece is handed on; the socket is
not read meanwhile, so a paced upload pushes back on its sender through TCP, and the wait
is not counted as the body's idleness.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

from aiohttp import StreamReader

PIECE = 1 << 20
AHEAD = 2


class BodyStalled(Exception):
    """The body sent nothing for longer than the idle deadline."""


class _End:
    """The reader's last word: the body ended (`error` None) or why it stopped."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


Pace = Callable[[int], Awaitable[None]]


async def _read_ahead(
    content: StreamReader, idle: float, pace: Pace, ready: asyncio.Queue[bytes | _End]
) -> None:
    pending: list[bytes] = []
    size = 0
    try:
        while True:
            # A timeout scope rather than wait_for: no task is made for each read.
            async with asyncio.timeout(idle):
                data = await content.readany()
            if not data:
                break
            pending.append(data)
            size += len(data)
            if size >= PIECE:
                await pace(size)
                await ready.put(b"".join(pending))  # the one copy the event loop makes
                pending.clear()
                size = 0
    except TimeoutError:
        error: BaseException | None = BodyStalled(f"the body sent nothing for {idle:g} s")
    except asyncio.CancelledError:
        raise  # the consumer stopped taking pieces: nothing more to hand on
    except Exception as exc:  # the client went away mid-body, or sent a broken one
        error = exc
    else:
        error = None
    # What arrived before the end (or the stall) is handed on first, then why it ended.
    if pending:
        await ready.put(b"".join(pending))
    await ready.put(_End(error))


async def body_pieces(
    content: StreamReader, *, idle: float, pace: Pace
) -> AsyncGenerator[bytes, None]:
    ready: asyncio.Queue[bytes | _End] = asyncio.Queue(maxsize=AHEAD)
    reader = asyncio.create_task(_read_ahead(content, idle, pace, ready), name="dropbox.body")
    try:
        while True:
            piece = await ready.get()
            if isinstance(piece, _End):
                if piece.error is not None:
                    raise piece.error
                return
            yield piece
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
