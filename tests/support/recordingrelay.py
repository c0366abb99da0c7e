"""An HTTP relay on loopback that forwards every request to one base URL and records it.

A client pointed at ``relay.url`` instead of the daemon reaches the daemon all the same (the
answer, streamed or not, is passed back as it arrives) while ``relay.records`` keeps each
request as the client sent it: method, path, query, headers in order, and the body, the
format of the captures in ``tests/data/captures/`` (so a record can be stored as one).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

# Hop-by-hop headers and those the relay's own client sets again.
_NOT_FORWARDED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "accept-encoding"}
)


@dataclass
class RecordingRelay:
    url: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    """One per request, in arrival order: ``{method, path, query, headers, body}`` (headers
    as ``[name, value]`` pairs, the body as text)."""


@contextlib.asynccontextmanager
async def recording_relay(target: str) -> AsyncIterator[RecordingRelay]:
    """Relay to ``target`` (a base URL such as ``http://127.0.0.1:8011``)."""
    relay = RecordingRelay()
    async with aiohttp.ClientSession(auto_decompress=False) as session:

        async def forward(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            relay.records.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string,
                    "headers": [[name, value] for name, value in request.headers.items()],
                    "body": body.decode("utf-8", errors="replace"),
                }
            )
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
            async with session.request(
                request.method, target + request.path_qs, headers=headers, data=body or None
            ) as upstream:
                response = web.StreamResponse(status=upstream.status)
                for name, value in upstream.headers.items():
                    if name.lower() not in _NOT_FORWARDED:
                        response.headers[name] = value
                await response.prepare(request)
                async for piece in upstream.content.iter_any():
                    await response.write(piece)
                await response.write_eof()
                return response

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        relay.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield relay
        finally:
            await runner.cleanup()
