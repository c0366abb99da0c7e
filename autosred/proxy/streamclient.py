"""The relay's HTTP/1.1 client to model servers: one POST, its answer read as it comes.

Why not aiohttp's client, which the rest of the daemon uses: per HTTP chunk of a streamed
answer (vLLM sends one per SSE event) aiohttp's client feeds its ``StreamReader`` and keeps
chunk bookkeeping, then wakes the reader; here ``data_received`` undoes the chunked framing of
a whole network read in one pass and hands the relay the body bytes it carried, once. Measured
with bare relays (`python -m bench.readpath`, BENCHMARKS.md, *The upstream read path*): 14-32%
less CPU per relayed event than the same relay on aiohttp's client.

What it does: a pool of kept-alive connections per (scheme, host, port), ``http`` and ``https``;
a bounded connect; the status line and headers; a body framed by Content-Length, chunked, or
the connection's end; reading paused while the relay has not taken what came (a slow client);
the idle deadline of ``idle.py``, which also covers the wait for the head. What it does not: 1xx
answers other than skipping them, redirects, cookies, compression (the relay asks for
``identity``), proxies, pipelining. A connection goes back to the pool only after an answer read
to its end with nothing after it; one that breaks, times out or is dropped mid-answer is closed
(closing is how vLLM learns to stop a generation).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from autosred.proxy.idle import IdleDeadline

PAUSE_AT = 256 * 1024
"""Body bytes received but not yet read by the relay at which the socket's reading pauses."""
HEAD_LIMIT = 64 * 1024
"""The most bytes a status line and its headers (or any one framing line) may take."""
SILENT = "the model server sent nothing for {:g} s (api.upstream_read_timeout)"

_HEAD, _SIZE, _DATA, _CRLF, _TRAILER, _LENGTH, _UNTIL_CLOSE, _DONE = range(8)


class UpstreamUnreachable(Exception):
    """No answer began: the connection could not be made, or closed before a status line."""


class UpstreamSilent(Exception):
    """The server sent nothing for the read timeout (``api.upstream_read_timeout``)."""


class UpstreamBroken(Exception):
    """The answer could not be read to its end: the connection closed early, or the bytes are
    not HTTP/1.1."""


Server = tuple[str, str, int]
"""(scheme, host, port)."""


class _IdleConnections:
    """The kept-alive connections not in use, by server; a server's entry goes with its last
    connection (a model server that moved to another port leaves nothing behind)."""

    def __init__(self) -> None:
        self._by_server: dict[Server, list[_Connection]] = {}

    def take(self, server: Server) -> _Connection | None:
        idle = self._by_server.get(server)
        while idle:
            connection = idle.pop()
            if not idle:
                del self._by_server[server]
            if connection.reusable():
                return connection
            connection.close()
        return None

    def put(self, server: Server, connection: _Connection) -> None:
        self._by_server.setdefault(server, []).append(connection)

    def forget(self, server: Server, connection: _Connection) -> None:
        idle = self._by_server.get(server)
        if idle and connection in idle:
            idle.remove(connection)
            if not idle:
                del self._by_server[server]

    def close(self) -> None:
        for idle in self._by_server.values():
            for connection in idle:
                connection.close()
        self._by_server.clear()


class _Connection(asyncio.Protocol):
    """One connection; one request at a time. ``data_received`` parses the answer's framing
    and keeps its body bytes until ``read`` takes them."""

    def __init__(self, idle: _IdleConnections, server: Server) -> None:
        self._idle = idle
        self._server = server
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._state = _DONE
        self._rest = b""
        self._left = 0
        self._keep_alive = True
        self._body: list[bytes] = []
        self._size = 0
        self._paused = False
        self._failure: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.status = 0
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._idle.forget(self._server, self)  # if idle: the server closed it
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        elif self._state == _HEAD:
            self._fail(UpstreamUnreachable("the model server closed the connection unanswered"))
        elif self._state != _DONE:
            reason = f": {exc}" if exc else ""
            self._fail(UpstreamBroken(f"the model server closed the connection{reason}"))
        self._wake()

    def data_received(self, data: bytes) -> None:
        if self._rest:
            data = self._rest + data
            self._rest = b""
        try:
            self._parse(data)
        except (ValueError, IndexError) as exc:
            self._fail(UpstreamBroken(f"not an HTTP/1.1 answer ({exc})"))
            assert self.transport is not None
            self.transport.close()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost tells whether the answer was whole

    # ------------------------------------------------------------------ the request

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self._state, self._rest, self._keep_alive = _HEAD, b"", True
        self._body, self._size, self._failure = [], 0, None
        self.status = 0
        self.transport.write(request)

    async def head(self) -> None:
        """Until the status line and headers are in."""
        while not self.status and self._failure is None:
            await self._wait()
        # Once the head is in, what broke after it (in the same read) is for read to raise.
        if not self.status:
            assert self._failure is not None
            raise self._failure

    async def read(self) -> bytes:
        """The body bytes received since the last read; ``b""`` once the answer has ended."""
        while not self._body and self._state != _DONE and self._failure is None:
            await self._wait()
        body = self._body
        if body:
            self._body, self._size = [], 0
            if self._paused and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            return body[0] if len(body) == 1 else b"".join(body)
        if self._failure is not None:
            raise self._failure
        return b""

    def at_eof(self) -> bool:
        return self._state == _DONE and not self._body and self._failure is None

    def reusable(self) -> bool:
        """Whether the answer was read to its end and the connection may carry another."""
        return (
            self._keep_alive
            and self.at_eof()
            and not self._rest
            and not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def release(self) -> None:
        """Back among the idle connections if it can carry another request, else closed."""
        if self.reusable():
            self._idle.put(self._server, self)
        else:
            self.close()

    def fail(self, failure: Exception) -> None:
        """End the answer with ``failure`` (the idle deadline): the next read raises it."""
        self._fail(failure)
        self._wake()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------------ internals

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, failure: Exception) -> None:
        if self._failure is None and self._state != _DONE:
            self._failure = failure
        self._state = _DONE
        self._keep_alive = False

    def _parse(self, data: bytes) -> None:
        """Undo the framing of one read; the body's pieces go to ``_body``, in one go (this
        runs for every read of a streamed answer: locals, no call per chunk)."""
        pos, size, state, left = 0, len(data), self._state, self._left
        pieces: list[bytes] = []
        try:
            while pos < size:
                if state in (_DATA, _LENGTH):  # the usual case, first
                    take = min(left, size - pos)
                    pieces.append(data[pos : pos + take])
                    pos += take
                    left -= take
                    if not left:
                        state = _CRLF if state == _DATA else _DONE
                elif state == _SIZE:
                    end = data.find(b"\r\n", pos)
                    if end < 0:
                        self._hold(data, pos)
                        break
                    line = data[pos:end]
                    if b";" in line:  # a chunk extension, ignored
                        line = line[: line.index(b";")]
                    left = int(line, 16)
                    if left < 0:
                        raise ValueError("a negative chunk size")
                    pos = end + 2
                    state = _DATA if left else _TRAILER
                elif state == _CRLF:
                    if size - pos < 2:
                        self._hold(data, pos)
                        break
                    if data[pos : pos + 2] != b"\r\n":
                        raise ValueError("a chunk not ended by CRLF")
                    pos += 2
                    state = _SIZE
                elif state == _TRAILER:
                    end = data.find(b"\r\n", pos)
                    if end < 0:
                        self._hold(data, pos)
                        break
                    blank = end == pos
                    pos = end + 2
                    if blank:  # the empty line after the trailers: the answer is whole
                        state = _DONE
                elif state == _UNTIL_CLOSE:
                    pieces.append(data[pos:] if pos else data)
                    pos = size
                elif state == _HEAD:
                    end = data.find(b"\r\n\r\n", pos)
                    if end < 0:
                        self._hold(data, pos)
                        break
                    state = self._parse_head(data[pos:end])
                    left = self._left
                    pos = end + 4
                else:  # bytes after the answer's end: HTTP/1.1 allows none without a request
                    self._keep_alive = False
                    break
        finally:
            self._state, self._left = state, left
            if pieces:
                self._body += pieces
                self._size += sum(map(len, pieces))
                if self._size >= PAUSE_AT and not self._paused and self.transport is not None:
                    self._paused = True
                    self.transport.pause_reading()

    def _hold(self, data: bytes, pos: int) -> None:
        """Keep an incomplete line for the next read (a bounded one: a server that never
        ends its line is broken)."""
        if len(data) - pos > HEAD_LIMIT:
            raise ValueError("a line longer than 64 KiB")
        self._rest = data[pos:]

    def _parse_head(self, head: bytes) -> int:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise ValueError(f"status line {lines[0][:60]!r}")
        status = int(rest[:3])
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"header line {line[:60]!r}")
            headers.add(name.strip(), value.strip())
        if 100 <= status < 200:
            return _HEAD  # an interim answer (100 Continue): the real one follows
        self.status = status
        self.headers = CIMultiDictProxy(headers)
        connection = headers.get("Connection", "").lower()
        if (version == "HTTP/1.0" and "keep-alive" not in connection) or "close" in connection:
            self._keep_alive = False
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            return _SIZE
        length = headers.get("Content-Length")
        if length is not None:
            self._left = int(length)
            if self._left < 0:
                raise ValueError("a negative Content-Length")
            return _LENGTH if self._left else _DONE
        if status in {204, 304}:
            return _DONE
        self._keep_alive = False
        return _UNTIL_CLOSE


class UpstreamResponse:
    """A model server's answer: ``status``, ``headers``, the body by ``read``; ``release`` (back
    to the pool when read to its end, else closed) or ``close`` when done."""

    __slots__ = ("_connection", "_deadline", "_done", "headers", "status")

    def __init__(self, connection: _Connection, deadline: IdleDeadline) -> None:
        self._connection = connection
        self._deadline = deadline
        self._done = False
        self.status = connection.status
        self.headers = connection.headers

    async def read(self) -> bytes:
        """What the server sent since the last read (``b""``: the end of the answer);
        UpstreamSilent after the read timeout, UpstreamBroken when the answer broke off."""
        deadline = self._deadline
        deadline.waiting()
        try:
            return await self._connection.read()
        finally:
            deadline.done_waiting()

    async def read_all(self) -> bytes:
        """The rest of the body (an error answer's)."""
        parts = []
        while data := await self.read():
            parts.append(data)
        return b"".join(parts)

    def at_eof(self) -> bool:
        """Whether the whole answer has been read."""
        return self._connection.at_eof()

    def release(self) -> None:
        """Done with the answer: its connection carries the next request if it can."""
        self._finish(keep=True)

    def close(self) -> None:
        """Done with the answer, read or not: its connection is closed."""
        self._finish(keep=False)

    def _finish(self, *, keep: bool) -> None:
        if self._done:
            return
        self._done = True
        self._deadline.close()
        if keep:
            self._connection.release()
        else:
            self._connection.close()


class UpstreamClient:
    """Kept-alive connections to the model servers, shared by every request (create one per
    api app and ``close`` it with the app)."""

    def __init__(self, *, connect_timeout: float | None, read_timeout: float | None) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle = _IdleConnections()
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: URL, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        """POST ``body`` to ``url``; the answer once its status line and headers are in.

        UpstreamUnreachable when no answer began (the connection could not be made, or closed
        before a status line), UpstreamSilent when the head did not come within the read
        timeout, UpstreamBroken when what came is not HTTP/1.1.
        """
        host, port = url.raw_host, url.port
        if url.scheme not in {"http", "https"} or host is None or port is None:
            raise UpstreamUnreachable(f"not an http(s) URL: {url}")
        server = (url.scheme, host, port)
        connection = self._idle.take(server) or await self._connect(server)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        lines = [f"POST {url.raw_path_qs} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += [f"Content-Length: {len(body)}", "", ""]
        timeout = self._read_timeout

        def silent() -> None:
            connection.fail(UpstreamSilent(SILENT.format(timeout)))

        deadline = IdleDeadline(asyncio.get_running_loop(), timeout, silent)
        connection.send("\r\n".join(lines).encode("latin-1") + body)
        deadline.waiting()
        try:
            await connection.head()
        except BaseException:
            connection.close()
            deadline.close()
            raise
        deadline.done_waiting()
        return UpstreamResponse(connection, deadline)

    async def _connect(self, server: Server) -> _Connection:
        scheme, host, port = server
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._idle, server), host, port, ssl=tls
                )
        except TimeoutError:
            raise UpstreamUnreachable(
                f"connecting to {host}:{port} took longer than {self._connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise UpstreamUnreachable(f"cannot connect to {host}:{port}: {exc}") from None
        return connection

    def close(self) -> None:
        """Close every idle connection (those in use close with their answers)."""
        self._idle.close()
