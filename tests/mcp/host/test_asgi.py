"""The ASGI bridge (autosred/mcp/host/asgi.py) with small ASGI applications, on a real
socket: what the application is given (scope, body, state) and how each way of answering
reaches the client (whole, streamed, empty, not at all, failing midway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from autosred.mcp.host.asgi import (
    ApplicationSentNothing,
    ASGIApp,
    AsgiExchange,
    Receive,
    ResponseCut,
    Scope,
    Send,
)


@asynccontextmanager
async def bridged(app: ASGIApp, errors: list[BaseException]) -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            return await AsgiExchange(request, body, state={"who": "tester"}).run(app)
        except Exception as exc:
            errors.append(exc)
            raise

    server = web.Application()
    server.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_the_application_sees_the_request_and_answers_whole() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen["scope"] = dict(scope)
        seen["message"] = await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"x-one", b"1")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"ok": true}'})

    errors: list[BaseException] = []
    async with bridged(app, errors) as base, aiohttp.ClientSession() as session:
        async with session.post(
            base + "/mcp/x?y=1", data=b"payload", headers={"X-Test": "v"}
        ) as response:
            assert response.status == 201
            assert response.headers["X-One"] == "1"
            assert response.headers["Content-Length"] == "12"
            assert await response.json() == {"ok": True}
    scope = seen["scope"]
    assert scope["method"] == "POST"
    assert scope["path"] == "/mcp/x"
    assert scope["query_string"] == b"y=1"
    assert (b"x-test", b"v") in scope["headers"]
    assert all(name == name.lower() for name, _ in scope["headers"])
    assert scope["state"] == {"who": "tester"}
    assert scope["client"][0] == "127.0.0.1"
    assert seen["message"] == {"type": "http.request", "body": b"payload", "more_body": False}
    assert errors == []


async def test_a_streamed_answer_arrives_piece_by_piece() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": False})

    async with bridged(app, []) as base, aiohttp.ClientSession() as session:
        async with session.post(base + "/s") as response:
            assert response.status == 200
            # The first event is readable while the application still holds the second.
            assert await response.content.readline() == b"data: 1\n"
            release.set()
            assert await response.read() == b"\ndata: 2\n\n"


async def test_a_start_without_a_body_is_an_empty_answer() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})

    async with bridged(app, []) as base, aiohttp.ClientSession() as session:
        async with session.post(base + "/") as response:
            assert response.status == 202
            assert await response.read() == b""


async def test_an_application_that_sends_nothing_is_a_bug_reported_as_such() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    errors: list[BaseException] = []
    async with bridged(app, errors) as base, aiohttp.ClientSession() as session:
        async with session.post(base + "/") as response:
            assert response.status == 500
    assert [type(error) for error in errors] == [ApplicationSentNothing]


@pytest.mark.parametrize("begun", [False, True])
async def test_an_application_failing_midway(begun: bool) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if begun:
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise OSError("the application's own failure")

    errors: list[BaseException] = []
    async with bridged(app, errors) as base, aiohttp.ClientSession() as session:
        if begun:
            # The answer had begun: it can only be cut, never replaced by a 500.
            with pytest.raises(aiohttp.ClientPayloadError):
                async with session.post(base + "/") as response:
                    await response.read()
            assert [type(error) for error in errors] == [ResponseCut]
            assert isinstance(errors[0].__cause__, OSError)
        else:
            async with session.post(base + "/") as response:
                assert response.status == 500
            assert [type(error) for error in errors] == [OSError]
