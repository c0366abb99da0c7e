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
    pending = bytearray()
    while True:
        try:
            data = await asyncio.wait_for(content.readany(), idle)
        except TimeoutError:
            if pending:
                yield bytes(pending)
            raise BodyStalled(f"the body sent nothing for {idle:g} s") from None
        except BaseException:
            # The client went away mid-body: hand on what came before it did.
            if pending:
                yield bytes(pending)
            raise
        if data:
            pending += data
        if pending and (not data or len(pending) >= PIECE):
            yield bytes(pending)
            pending.clear()
        if not data:
            return
