"""The address guard between a browser context and the network: a SOCKS5 proxy (RFC 1928,
CONNECT only, no authentication) that admits a connection only past the fetch tool's
:class:`~autosred.web.fetch.guard.Guard`.

Why a proxy and not only request interception: Chromium follows redirects without showing
the new hop to CDP's request interception (a 302 to ``http://127.0.0.1:9464/metrics`` would
be fetched unseen), and a page's own connections (WebSockets, service workers, prefetches)
do not all pass through it either. Every one of them opens a connection through the
context's proxy, though, and a SOCKS5 client sends the host *name* (Chromium never resolves
a name itself when its proxy is ``socks5://``), so the guard resolves it once, checks every
address and connects to the checked one: no second lookup that DNS rebinding could change.

One proxy per browser context, so what was refused can be told to the session whose page
asked (``refusals``). The browser's own traffic (none: background networking is off) and
anything not on a context would find no proxy and no DNS (``--host-resolver-rules``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from autosred.web.fetch.failure import FetchFailure
from autosred.web.fetch.guard import Guard
from autosred.web.fetch.urls import parse_target

VERSION = 5
NO_AUTH = 0
NO_ACCEPTABLE = 0xFF
CONNECT = 1
ATYP_V4 = 1
ATYP_NAME = 3
ATYP_V6 = 4

REPLY_OK = 0
REPLY_FAILURE = 1
REPLY_NOT_ALLOWED = 2
REPLY_HOST_UNREACHABLE = 4
REPLY_REFUSED = 5
REPLY_COMMAND = 7
REPLY_ADDRESS_TYPE = 8

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client has to finish the SOCKS handshake (it is the local browser: quick)."""
CONNECT_TIMEOUT = 15.0
PIPE_CHUNK = 64 * 1024
KEPT_REFUSALS = 32


class SocksError(Exception):
    """A handshake that is not SOCKS5 CONNECT; answered with ``reply`` when one is due."""

    def __init__(self, message: str, *, reply: int | None = None) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(frozen=True)
class Destination:
    """What a SOCKS5 CONNECT request asks for."""

    host: str
    """A name as sent, or an address's text."""
    port: int

    @property
    def url(self) -> str:
        """An http URL naming it, for the fetch tool's URL parser and guard."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


@dataclass(frozen=True)
class GuardRefusal:
    """A connection the guard refused: where to, and the guard's sentence."""

    host: str
    port: int
    reason: str


async def read_request(reader: asyncio.StreamReader) -> Destination:
    """The CONNECT request that follows the method selection; :class:`SocksError` (with
    the reply it is answered with) for anything else."""
    version, command, _reserved, atyp = await reader.readexactly(4)
    if version != VERSION:
        raise SocksError(f"not SOCKS5 (version byte {version})", reply=REPLY_FAILURE)
    if atyp == ATYP_V4:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif atyp == ATYP_V6:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif atyp == ATYP_NAME:
        (length,) = await reader.readexactly(1)
        raw = await reader.readexactly(length)
        try:
            host = raw.decode("ascii")
        except UnicodeDecodeError:
            raise SocksError(
                "a host name that is not ASCII", reply=REPLY_HOST_UNREACHABLE
            ) from None
        if not host:
            raise SocksError("an empty host name", reply=REPLY_HOST_UNREACHABLE)
    else:
        raise SocksError(f"address type {atyp}", reply=REPLY_ADDRESS_TYPE)
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if command != CONNECT:
        # BIND and UDP ASSOCIATE: a browser asks neither of an HTTP proxy's sort.
        raise SocksError(f"command {command}", reply=REPLY_COMMAND)
    if port == 0:
        raise SocksError("port 0", reply=REPLY_HOST_UNREACHABLE)
    return Destination(host, port)


def reply(code: int) -> bytes:
    """A reply with no bound address (0.0.0.0:0): Chromium reads none of it."""
    return bytes((VERSION, code, 0, ATYP_V4, 0, 0, 0, 0, 0, 0))


class GuardProxy:
    """One context's SOCKS5 guard proxy on ``host`` (an ephemeral port: ``address``).
    ``guard`` None: every connection is refused (the browser's own context, whose traffic,
    update checks and sign-in probes, has no business leaving)."""

    def __init__(
        self,
        *,
        guard: Guard | None,
        host: str,
        log: logging.Logger,
        on_refused: Callable[[GuardRefusal], None] | None = None,
    ) -> None:
        self._guard = guard
        self._host = host
        self._log = log
        self._on_refused = on_refused
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.refusals: deque[GuardRefusal] = deque(maxlen=KEPT_REFUSALS)
        """The latest refusals, oldest first (the session reports and clears them)."""

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The proxy as Chromium's ``--proxy-server`` / a context's ``proxy.server`` names it."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"socks5://{shown}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, 0)

    async def close(self) -> None:
        """Stop listening and cut every connection still piped."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the browser hung up or stalled mid-handshake: nothing to answer
        except asyncio.CancelledError:
            # close() cut the connection. Not re-raised: asyncio's stream server would log
            # its handler task's cancellation as an error, and nothing awaits this task.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                destination = await self._handshake(reader, writer)
        except SocksError as exc:
            self._log.warning("browser.socks_refused", extra={"fields": {"why": str(exc)}})
            if exc.reply is not None:
                writer.write(
                    bytes((VERSION, NO_ACCEPTABLE))
                    if exc.reply == NO_ACCEPTABLE
                    else reply(exc.reply)
                )
                await writer.drain()
            return
        upstream = await self._open(destination, writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        writer.write(reply(REPLY_OK))
        await writer.drain()
        try:
            async with asyncio.TaskGroup() as pipes:
                pipes.create_task(_pipe(reader, up_writer))
                pipes.create_task(_pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Destination:
        version, count = await reader.readexactly(2)
        if version != VERSION:
            raise SocksError(f"not SOCKS5 (version byte {version})")
        methods = await reader.readexactly(count)
        if NO_AUTH not in methods:
            raise SocksError("the client offers no 'no authentication' method", reply=NO_ACCEPTABLE)
        writer.write(bytes((VERSION, NO_AUTH)))
        await writer.drain()
        return await read_request(reader)

    async def _open(
        self, destination: Destination, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The connection to the checked address, or None once the refusal was answered."""
        if self._guard is None:
            self._log.debug(
                "browser.own_request_refused",
                extra={"fields": {"host": destination.host[:253], "port": destination.port}},
            )
            writer.write(reply(REPLY_NOT_ALLOWED))
            await writer.drain()
            return None
        try:
            admitted = await self._guard.admit(parse_target(destination.url))
        except FetchFailure as exc:
            refusal = GuardRefusal(destination.host, destination.port, str(exc))
            self.refusals.append(refusal)
            if self._on_refused is not None:
                self._on_refused(refusal)
            self._log.info(
                "browser.request_refused",
                extra={"fields": {"host": destination.host[:253], "port": destination.port}},
            )
            writer.write(reply(REPLY_NOT_ALLOWED))
            await writer.drain()
            return None
        last: OSError | None = None
        for address in admitted.addresses:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    return await asyncio.open_connection(str(address), destination.port)
            except (OSError, TimeoutError) as exc:
                last = exc if isinstance(exc, OSError) else OSError("timed out")
        code = REPLY_REFUSED if isinstance(last, ConnectionRefusedError) else REPLY_HOST_UNREACHABLE
        writer.write(reply(code))
        await writer.drain()
        return None


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close the other side (TLS ends with it)."""
    try:
        while chunk := await source.read(PIPE_CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except (ConnectionError, OSError):
        sink.close()
