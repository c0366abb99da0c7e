"""An HTTP proxy on loopback that refuses every request and records what it was asked.

A client run with ``HTTPS_PROXY``/``HTTP_PROXY`` pointed here (and ``NO_PROXY`` naming the
loopback addresses of the daemon and the test sites) can reach nothing else: every request
it makes to any other host arrives here first, as ``CONNECT host:port`` (HTTPS) or
``METHOD http://host/…`` (HTTP), is written down in ``asked``, and gets 403. So an empty
``asked`` says the client attempted no request to any outside host, the vendor's included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class RefusingProxy:
    url: str = ""
    asked: list[str] = field(default_factory=list)
    """Each request's method and target, in order: ``CONNECT api.anthropic.com:443``."""


@contextlib.asynccontextmanager
async def refusing_proxy() -> AsyncIterator[RefusingProxy]:
    proxy = RefusingProxy()
    handlers: set[asyncio.Task[None]] = set()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, *_rest = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            proxy.asked.append(f"{method} {target}")
            writer.write(REFUSAL)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            proxy.asked.append("(unreadable request)")
        finally:
            writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(refuse(reader, writer))
        handlers.add(task)
        task.add_done_callback(handlers.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0)
    proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
