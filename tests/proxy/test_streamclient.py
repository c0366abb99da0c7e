"""The relay's HTTP/1.1 client (proxy/streamclient.py) against scripted servers on real
sockets: every framing an HTTP/1.1 server may use, split anywhere by the network, read back
whole; keep-alive reuse and when a connection must not be reused; and each way an answer can
fail, as the relay's three failures (unreachable, silent, broken)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from autosred.proxy.streamclient import (
    UpstreamBroken,
    UpstreamClient,
    UpstreamSilent,
    UpstreamUnreachable,
)

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Server:
    """A TCP server that answers every connection with ``script``; counts connections."""

    script: Script
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    url: URL = field(default_factory=URL)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Server:
        server = Server(script)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listening)
        port = listening.sockets[0].getsockname()[1]
        server.url = URL(f"http://127.0.0.1:{port}/v1/chat/completions")
        return server

    yield start
    for listening in servers:
        listening.close()
        await listening.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


def client(read_timeout: float | None = 30.0) -> UpstreamClient:
    return UpstreamClient(connect_timeout=5.0, read_timeout=read_timeout)


async def whole(response_client: UpstreamClient, url: URL) -> tuple[int, bytes]:
    response = await response_client.post(url, b'{"x":1}', {"Content-Type": "application/json"})
    try:
        return response.status, await response.read_all()
    finally:
        response.release()


def chunked(body: bytes, sizes: list[int]) -> bytes:
    """``body`` in HTTP chunks of ``sizes`` (the rest in one more), then the last chunk."""
    out, start = b"", 0
    for size in [*sizes, len(body)]:
        piece = body[start : start + size]
        if piece:
            out += b"%x\r\n%b\r\n" % (len(piece), piece)
        start += len(piece)
    return out + b"0\r\n\r\n"


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=3000),
    sizes=st.lists(st.integers(1, 700), max_size=8),
    cuts=st.lists(st.integers(0, 5000), max_size=12),
    framing=st.sampled_from(["chunked", "length", "close"]),
)
async def test_any_framing_split_anywhere_reads_back_whole(
    serve: Callable[[Script], Awaitable[Server]],
    body: bytes,
    sizes: list[int],
    cuts: list[int],
    framing: str,
) -> None:
    if framing == "chunked":
        answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, sizes)
    elif framing == "length":
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    else:
        answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for piece in pieces(answer, cuts):
            writer.write(piece)
            await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        assert await whole(upstream, server.url) == (200, body)
    finally:
        upstream.close()


async def test_the_request_carries_the_body_and_headers(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.requests.append(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        assert await whole(upstream, server.url) == (200, b"ok")
    finally:
        upstream.close()
    (request,) = server.requests
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.url.port}".encode() in lines
    assert b"Content-Type: application/json" in lines
    assert b"Content-Length: 7" in lines
    assert body == b'{"x":1}'


async def test_an_interim_answer_is_skipped_and_headers_are_read(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )
        await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        response = await upstream.post(server.url, b"{}", {})
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"
        assert response.headers.get("content-type") == "application/json"
        assert await response.read_all() == b"{}"
        response.release()
    finally:
        upstream.close()


async def test_a_connection_read_to_its_end_carries_the_next_request(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(chunked(b"data: {}\n\n" * 5, [10, 10]))
            await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        for _ in range(3):
            assert await whole(upstream, server.url) == (200, b"data: {}\n\n" * 5)
    finally:
        upstream.close()
    assert server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nok",  # no length: the body ends with the connection
    ],
    ids=["connection-close", "http-1.0", "until-close"],
)
async def test_a_connection_the_server_ends_is_not_reused(
    serve: Callable[[Script], Awaitable[Server]], answer: bytes
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        for _ in range(2):
            assert await whole(upstream, server.url) == (200, b"ok")
    finally:
        upstream.close()
    assert server.connections == 2


async def test_an_answer_not_read_to_its_end_closes_its_connection(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    """Closing is how vLLM learns to stop a generation the client no longer wants."""
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await reader.read()  # until the client closes
        closed.set()

    server = await serve(script)
    upstream = client()
    try:
        response = await upstream.post(server.url, b"{}", {})
        assert await response.read() == b"hello"
        response.release()  # not at its end: closed, not kept
        await asyncio.wait_for(closed.wait(), 10)
    finally:
        upstream.close()


async def test_an_idle_connection_the_server_closed_is_not_taken(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # then close, as a server does at its keep-alive timeout

    server = await serve(script)
    upstream = client()
    try:
        assert await whole(upstream, server.url) == (200, b"ok")
        for _ in range(100):  # the close reaches the client's loop within a few turns
            if server.connections == 1 and not upstream._idle._by_server:
                break
            await asyncio.sleep(0.01)
        assert await whole(upstream, server.url) == (200, b"ok")
    finally:
        upstream.close()
    assert server.connections == 2


async def test_no_server_is_unreachable() -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    upstream = client()
    with pytest.raises(UpstreamUnreachable, match=f"127.0.0.1:{port}"):
        await upstream.post(URL(f"http://127.0.0.1:{port}/v1/x"), b"{}", {})


async def test_a_connection_closed_unanswered_is_unreachable(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    server = await serve(script)
    upstream = client()
    with pytest.raises(UpstreamUnreachable):
        await upstream.post(server.url, b"{}", {})


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",  # then closed
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",  # then closed
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n",
    ],
    ids=["chunked-cut", "length-cut", "bad-chunk-size", "bad-chunk-end"],
)
async def test_an_answer_that_breaks_off_is_broken(
    serve: Callable[[Script], Awaitable[Server]], answer: bytes
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    server = await serve(script)
    upstream = client()
    try:
        response = await upstream.post(server.url, b"{}", {})
        with pytest.raises(UpstreamBroken):
            await response.read_all()
        response.close()
    finally:
        upstream.close()


async def test_not_http_is_broken(serve: Callable[[Script], Awaitable[Server]]) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await reader.read()

    server = await serve(script)
    upstream = client()
    with pytest.raises(UpstreamBroken):
        await upstream.post(server.url, b"{}", {})


@pytest.mark.parametrize("where", ["head", "body"])
async def test_a_silent_server_fails_the_wait_at_the_read_timeout(
    serve: Callable[[Script], Awaitable[Server]], where: str
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if where == "body":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            await writer.drain()
        await reader.read()  # silent until the client gives up

    server = await serve(script)
    upstream = client(read_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(UpstreamSilent):
        response = await upstream.post(server.url, b"{}", {})
        try:
            await response.read()
        finally:
            response.close()
    assert loop.time() - started >= 0.3


async def test_a_large_answer_read_slowly_comes_whole(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    """More than the client keeps unread (reading pauses, then resumes)."""
    body = bytes(range(256)) * 8192  # 2 MiB

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(chunked(body, [65536] * 31))
        await writer.drain()
        await reader.read()

    server = await serve(script)
    upstream = client()
    try:
        response = await upstream.post(server.url, b"{}", {})
        parts = []
        while data := await response.read():
            parts.append(data)
            await asyncio.sleep(0)  # a relay writing each read to its client in between
        assert b"".join(parts) == body
        response.release()
    finally:
        upstream.close()


async def test_a_line_that_never_ends_is_broken(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 70000)
        await writer.drain()
        await reader.read()

    server = await serve(script)
    upstream = client()
    try:
        response = await upstream.post(server.url, b"{}", {})
        with pytest.raises(UpstreamBroken, match="64 KiB"):
            await response.read_all()
        response.close()
    finally:
        upstream.close()
