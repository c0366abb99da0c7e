"""One aiohttp request handed to an ASGI application (the MCP SDK's Streamable HTTP entry).

The SDK speaks ASGI; the api listener is aiohttp. This is the smallest bridge that serves the
SDK: one HTTP request in (the body already read and capped by the caller), the response
streamed back as the application sends it. No lifespan (the host runs the SDK's session
managers itself), no websockets. Chosen over the aiohttp-asgi package by measurement
(ARCHITECTURE.md, "MCP"): it adds no dependency, lets the caller put the client's name in
the scope's ``state``, and costs less per call.

A client that hangs up cancels the handler (the api runner's ``handler_cancellation``), and
with it the application; ``receive`` after the body therefore never has to report a
disconnect, and ``send`` raising ``ConnectionError`` tells a streaming application the same
(ASGI spec 2.4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApplicationSentNothing(RuntimeError):
    """The application returned without starting a response (a bug in it)."""


class ResponseCut(RuntimeError):
    """The application failed after its response had begun: the answer cannot be replaced,
    only cut (the connection closes)."""


class AsgiExchange:
    """One request through an ASGI application: ``run`` returns the response it sent,
    already written; ``answered`` says whether any of it reached the connection."""

    def __init__(
        self, request: web.Request, body: bytes, *, state: dict[str, Any], user: Any = None
    ) -> None:
        """``state`` becomes the scope's ``state``; ``user``, when given, its ``user`` (the
        authenticated principal, as Starlette's authentication puts it there)."""
        self._request = request
        self._body: bytes | None = body
        self._response: web.StreamResponse | None = None
        self._whole: web.Response | None = None
        """The answer when it came in one body message, sent when ``run`` returns it."""
        self._status = 500
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": f"{request.version.major}.{request.version.minor}",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.partition("?")[0].encode("latin-1", "replace"),
            "root_path": "",
            "query_string": request.query_string.encode("latin-1", "replace"),
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
            "client": _address(request, "peername"),
            "server": _address(request, "sockname"),
            "state": state,
        }
        if user is not None:
            self._scope["user"] = user

    @property
    def answered(self) -> bool:
        """Whether the application has given its answer (whole, or begun on the wire)."""
        return self._whole is not None or (self._response is not None and self._response.prepared)

    async def run(self, app: ASGIApp) -> web.StreamResponse:
        try:
            await app(self._scope, self._receive, self._send)
        except Exception as exc:
            if self._response is not None and self._response.prepared:
                raise ResponseCut(self._request.path) from exc
            raise
        if self._whole is not None:
            return self._whole
        response = self._response
        if response is None:
            raise ApplicationSentNothing(self._request.path)
        if not response.prepared:
            # Started without a body message: an empty body.
            await response.prepare(self._request)
            await response.write_eof()
        return response

    async def _receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        # Only a disconnect could come now, and a disconnect cancels the handler instead.
        await asyncio.Future()
        raise AssertionError("unreachable")

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = CIMultiDict(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in message.get("headers", ())
            )
            self._response = web.StreamResponse(status=self._status, headers=self._headers)
        elif kind == "http.response.body":
            response = self._response
            if response is None or self._whole is not None:
                raise RuntimeError("ASGI body sent before http.response.start or after the end")
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if not response.prepared and not more:
                # The whole answer in one message (every JSON answer): a Response, which
                # aiohttp sends with its head in one write, not two.
                self._headers.popall("Content-Length", None)
                self._whole = web.Response(status=self._status, headers=self._headers, body=chunk)
                return
            if not response.prepared:
                await response.prepare(self._request)
            if chunk:
                await response.write(chunk)
            if not more:
                await response.write_eof()


def _address(request: web.Request, which: str) -> list[Any] | None:
    transport = request.transport
    address = transport.get_extra_info(which) if transport is not None else None
    if isinstance(address, tuple) and len(address) >= 2:
        return [address[0], address[1]]
    return None
