"""A request body as the store's chunk stream, cut when it stalls.

aiohttp has no body deadline: a client that sends its headers and then a byte a minute would
hold an upload's lock (and a worker's file descriptor) for as long as it liked. Each read
here waits at most `idle` seconds; a stall raises BodyStalled after what had arrived is
handed on, so the store keeps (and fsyncs) every byte that came, and that is the offset the
client resumes from.

Reads are gathered into pieces of up to `PIECE` bytes: each piece is one write in a worker
thread, and TLS hands data over in records of 16 KiB; one thread hop per record would cost
more than the write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import StreamReader

PIECE = 1 << 20


class BodyStalled(Exception):
    """The body sent nothing for longer than the idle deadline."""


async def body_pieces(content: StreamReader, *, idle: float) -> AsyncIterator[bytes]:
    pending: list[bytes] = []
    size = 0
    while True:
        try:
            # A timeout scope rather than wait_for: no task is made for each read.
            async with asyncio.timeout(idle):
                data = await content.readany()
        except TimeoutError:
            if pending:
                yield b"".join(pending)
            raise BodyStalled(f"the body sent nothing for {idle:g} s") from None
        except BaseException:
            # The client went away mid-body: hand on what came before it did.
            if pending:
                yield b"".join(pending)
            raise
        if data:
            pending.append(data)
            size += len(data)
        if pending and (not data or size >= PIECE):
            yield b"".join(pending)  # the one copy of these bytes the event loop makes
            pending.clear()
            size = 0
        if not data:
            return
