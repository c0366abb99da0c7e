"""An SDK's real HTTP transport that keeps a copy of every response body it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2 as httpx


class _TeeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            self._sink.extend(part)
            yield part

    async def aclose(self) -> None:
        await self._inner.aclose()


class TeeTransport(httpx.AsyncBaseTransport):
    """The SDK's real HTTP transport, keeping a copy of every response body it reads."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.responses: list[tuple[httpx.Response, bytearray]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        sink = bytearray()
        assert isinstance(response.stream, httpx.AsyncByteStream)
        teed = httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, sink),
            extensions=response.extensions,
            request=request,
        )
        self.responses.append((teed, sink))
        return teed

    async def aclose(self) -> None:
        await self._inner.aclose()
