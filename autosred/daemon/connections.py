"""Every TCP listener's connections, bounded: a deadline for a request's head, a deadline for
an idle connection, and a cap on the connections one address holds.

aiohttp has no deadline for reading a request's head, and only one timer for a connection
waiting for its next request; a client dripping a byte every few seconds keeps a descriptor
for as long as it likes. These pieces slot into aiohttp where it builds a connection's
protocol (``AppRunner._make_server``, ``Server.__call__``):

- the head deadline starts with the first byte of a request's head and ends when aiohttp has
  parsed the head (it then stops waiting for a message); a head still incomplete at the
  deadline gets 408 and the connection is closed, lingering: the 408 and a FIN go out, what
  the client still sends is read and dropped for up to ``_LINGER`` seconds, then the socket
  closes (closing with the client's bytes unread would send a reset, which can destroy the
  408 before the client reads it);
- the idle deadline is aiohttp's keep-alive timer (``keepalive_timeout``): from the
  connection's start, and from the end of each response, to the next complete head;
- a connection beyond ``max_per_peer`` from one address is closed as soon as it is accepted,
  before aiohttp sees it;
- a malformed request is one info line (aiohttp logs each with a traceback at error).

Each of these is logged through a :class:`LogThrottle`: what a client can cause at will costs
the log one line per interval.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from autosred.config import ConnectionSettings
from autosred.daemon.throttle import LogThrottle

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n"
_REASON_CHARS = 200
_LINGER = 2.0


class ConnectionGuard:
    """The limits of one listener app (api and codex share one) and its live connections."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        listener: str,
        throttle: LogThrottle,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        # Headers every answer of this listener carries (the dropbox's HSTS), the guard's own
        # 408 and 400s included: they never pass through the app's middlewares.
        self.headers = dict(headers or {})
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        self.timeout_response = _REQUEST_TIMEOUT + extra.encode("latin-1") + b"\r\n"
        self._listener = listener
        self._throttle = throttle
        self._open: Counter[str] = Counter()
        self._by_port: Counter[tuple[int, str]] = Counter()
        """Open connections by the local port they came in on and peer, for the watch view
        (one guard can serve several binds: the api listener and its codex bind)."""

    def open_connections(self) -> list[tuple[int, str, int]]:
        """(local port, peer address, connections) for every peer connected now."""
        return [(port, peer, count) for (port, peer), count in self._by_port.items()]

    def opened(self, port: int, peer: str) -> None:
        """An admitted connection came in on local ``port`` (counted for the view only)."""
        self._by_port[port, peer] += 1

    def closed(self, port: int, peer: str) -> None:
        key = (port, peer)
        self._by_port[key] -= 1
        if self._by_port[key] <= 0:
            del self._by_port[key]

    def admit(self, peer: str) -> bool:
        """Count a new connection from ``peer``; False (and counted nowhere) over the cap."""
        if self._open[peer] >= self.settings.max_per_peer:
            self._throttle.log(
                logging.WARNING,
                "http.peer_limit",
                listener=self._listener,
                peer=peer,
                limit=self.settings.max_per_peer,
            )
            return False
        self._open[peer] += 1
        return True

    def release(self, peer: str) -> None:
        self._open[peer] -= 1
        if self._open[peer] <= 0:
            del self._open[peer]

    def head_timed_out(self, peer: str) -> None:
        self._throttle.log(
            logging.INFO,
            "http.header_timeout",
            listener=self._listener,
            peer=peer,
            after=self.settings.header_timeout,
        )

    def malformed(self, peer: str, status: int, reason: str) -> None:
        first_line = reason.strip().splitlines()[0] if reason.strip() else ""
        self._throttle.log(
            logging.INFO,
            "http.bad_request",
            listener=self._listener,
            peer=peer,
            status=status,
            reason=first_line[:_REASON_CHARS],
        )


def _is_utf8(text: str) -> bool:
    """Whether a header value aiohttp decoded arrived as UTF-8 (other bytes come through as
    lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _peer_host(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unknown"


def _local_port(transport: asyncio.BaseTransport) -> int:
    local = transport.get_extra_info("sockname")
    if isinstance(local, tuple) and len(local) >= 2 and isinstance(local[1], int):
        return local[1]
    return 0


class GuardedHandler(RequestHandler):
    """aiohttp's protocol for one connection, with the guard's cap, deadline and logging."""

    def __init__(self, manager: web.Server, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._peer = "unknown"
        self._port = 0
        self._admitted = False
        self._first_head_parsed = False
        self._head_deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._peer = _peer_host(transport)
        if not self._guard.admit(self._peer):
            transport.close()
            return
        self._admitted = True
        self._port = _local_port(transport)
        self._guard.opened(self._port, self._peer)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if not self._admitted:
            return  # refused in connection_made: aiohttp never knew this connection
        self._admitted = False
        self._guard.release(self._peer)
        self._guard.closed(self._port, self._peer)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # answered with 408 and closing: read only to drop it
        super().data_received(data)
        if self._messages:
            self._first_head_parsed = True
        if self._reading_head():
            if self._head_deadline is None:
                # The first bytes of a head: from now on it has header_timeout to be complete.
                self._head_deadline = asyncio.get_running_loop().call_later(
                    self._guard.settings.header_timeout, self._head_timed_out
                )
        else:
            self._disarm()

    def _reading_head(self) -> bool:
        # aiohttp's connection task awaits this future exactly while it waits for the next
        # complete request head; it is done (or gone) once a head has been parsed. Before the
        # task first runs there is no future yet: over TLS the first bytes of a head often
        # arrive with the end of the handshake, in the same turn of the loop as
        # connection_made, so until a first head is parsed the connection is reading one.
        if not self._first_head_parsed:
            return True
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self._reading_head() or self.transport is None:
            return
        self._guard.head_timed_out(self._peer)
        transport = self.transport
        transport.write(self._guard.timeout_response)
        if not transport.can_write_eof():
            self.force_close()
            return
        # Half-close after the 408 and drop what still arrives until the client closes its
        # side (the transport closes on EOF) or the linger ends.
        transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(_LINGER, self._end_linger)

    def _end_linger(self) -> None:
        self._linger = None
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            # A handler that raised: a bug, worth aiohttp's traceback.
            return super().handle_error(request, status, exc, message)
        # A request aiohttp could not parse: the client's problem, one line at info.
        text = message or (str(exc) if exc is not None else "")
        self._guard.malformed(self._peer, status, text)
        response = web.Response(
            status=status, text=text, content_type="text/plain", headers=self._guard.headers
        )
        response.force_close()
        return response


class GuardedServer(web.Server):
    """aiohttp's protocol factory, making :class:`GuardedHandler` connections."""

    def __init__(self, plain: web.Server, guard: ConnectionGuard) -> None:
        # aiohttp keeps the handler's settings (keepalive_timeout, access_log, ...) only in
        # the server it built; this copy hands the same ones to every GuardedHandler.
        self._handler_kwargs: dict[str, Any] = dict(plain._kwargs)
        self._app_handler = plain.request_handler
        super().__init__(
            self._handle,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **self._handler_kwargs,
        )
        self._guard = guard

    async def _handle(self, request: BaseRequest) -> web.StreamResponse:
        expect = request.headers.get("Expect")
        if expect is not None and not _is_utf8(expect):
            # aiohttp answers an unknown Expect with 417 and the value in its text, which it
            # then fails to encode: a 500 (and a traceback) for a byte the client chose.
            return web.Response(status=417, text="Expectation Failed")
        return await self._app_handler(request)

    def __call__(self) -> RequestHandler:
        return GuardedHandler(
            self, guard=self._guard, loop=asyncio.get_running_loop(), **self._handler_kwargs
        )


class TLSSite(web.TCPSite):
    """A TCP site serving TLS whose handshakes must end within the guard's header deadline.

    asyncio hands a TLS connection to aiohttp (and the guard) only once its handshake is
    done, and gives a handshake 60 s by default: a client that connects and never finishes
    one would hold its descriptor that long, past every deadline above.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        handshake_timeout: float,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=True)
        self._handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._handshake_timeout,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
        )


class GuardedAppRunner(web.AppRunner):
    """An AppRunner whose sites accept connections through ``guard``."""

    def __init__(self, app: web.Application, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=guard.settings.idle_timeout, **kwargs)
        self._guard = guard

    async def _make_server(self) -> web.Server:
        return GuardedServer(await super()._make_server(), self._guard)
