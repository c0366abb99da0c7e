"""`python -m bench.readpath`: would a different upstream read path lower the relay's CPU per event?

    python -m bench.readpath [--levels 1,16,64] [--seconds 2] [--rounds 3] [--chunks 200]

A prototype, measured, not the daemon's code. Three bare relays answer the same two requests in
front of one simulator, each in its own process, with aiohttp's server on the client side:

* ``aiohttp``: the upstream read through aiohttp's client (``ClientSession.post``,
  ``content.readany``), as the daemon reads it (and as `bench.floor` does);
* ``protocol``: the upstream read by a minimal HTTP/1.1 reader on ``asyncio.Protocol``
  (`StreamingConnection`): status line and headers, then Content-Length or chunked framing
  undone in ``data_received`` itself, the body handed on synchronously; kept-alive
  connections are reused; the handler task is woken once per read to write what it made;
* ``direct``: the same reader, but ``data_received`` also writes what it made to the
  client's socket itself (framed as an HTTP chunk) while the client keeps up, so no task is
  woken per read (the handler only waits for the end, or writes what a slow client left).

``POST /v1/chat/completions`` relays the answer byte for byte (the pass-through's work);
``POST /v1/messages`` posts a fixed chat request upstream (the benchmark's answer, with the
Messages relay's ``stream_options``), cuts SSE events out of every read, parses each chunk
(msgspec) and translates it with the daemon's own ``MessageStreamTranslator``, and writes the
encoded events of a read in one write (in the protocol relay: everything one
``data_received`` gave, translated before the handler is woken). No lease, no metrics, no
logs, no request translation: what is left is the read path, the translator and aiohttp's
server, so the differences between the relays are what the upstream read path costs.

The daemon (production defaults, as `bench.run` starts it) is measured in the same turns for
reference. Each window: the benchmark's closed loop of 200-chunk streams, the process's CPU
time (user + system, ``/proc``) over the events its clients received; medians over
``--rounds`` windows, the proxies in turn (the order reversed every round). Prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from autosred.proxy.anthropic.events import encode_events
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.stream import MessageStreamTranslator
from autosred.proxy.fastjson import parse_chunk
from autosred.proxy.sse import SSEDecoder
from bench import scenarios
from bench.daemon import (
    SERVED,
    Sim,
    StartError,
    free_port,
    http_get_status,
    running_daemon,
    running_sim,
    stop_process,
    wait_until,
)
from bench.floor import (
    SESSION_KEY,
    UPSTREAM_KEY,
    BareRelay,
    Measured,
    health,
    measure_window,
    running_bare_relay,
)
from bench.routes import TOKEN, Route, chat_usage_body, daemon_anthropic, daemon_openai
from bench.stats import median

KEY = b"bench-readpath-key-0123456789"
READERS = ("aiohttp", "protocol", "direct")
PAUSE_AT = 256 * 1024
"""Bytes translated but not yet written to the client at which the upstream read pauses."""


def new_translator() -> MessageStreamTranslator:
    return MessageStreamTranslator(
        model=SERVED, signer=ThinkingSigner(KEY), prompt_estimate=lambda: 40
    )


class TranslatingSink:
    """SSE bytes in, the Messages events of each read out, encoded (the daemon's per-read
    work: `relay.py`'s ``_pump`` without its awaits)."""

    __slots__ = ("decoder", "done", "translator")

    def __init__(self) -> None:
        self.decoder = SSEDecoder()
        self.translator = new_translator()
        self.done = False

    def feed(self, data: bytes, *, first: bool) -> bytes:
        translator = self.translator
        events = translator.start() if first else []
        for payload in self.decoder.feed(data):
            if payload == b"[DONE]":
                self.done = True
                break
            chunk = parse_chunk(payload)
            if not isinstance(chunk, dict):
                raise ValueError(f"not a chunk: {payload[:80]!r}")
            events += translator.feed(chunk)
        return encode_events(events) if events else b""

    def close(self) -> bytes:
        tail = self.translator.close()
        return encode_events(tail) if tail else b""


# ------------------------------------------------------------------------ the protocol reader

_HEAD, _SIZE, _DATA, _CRLF, _TRAILER, _LENGTH, _DONE = range(7)


class UpstreamBroke(Exception):
    """The server's answer could not be read to its end."""


class StreamingConnection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection to the model server: one request at a time, the
    answer's body handed to ``on_body`` as ``data_received`` undoes its framing."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.head: asyncio.Future[tuple[int, bytes]] | None = None
        self.on_body: Callable[[bytes], None] = lambda _: None
        self.on_end: Callable[[BaseException | None], None] = lambda _: None
        self.reusable = False
        self._state = _DONE
        self._rest = b""
        self._left = 0
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self.head = asyncio.get_running_loop().create_future()
        self._state, self._rest, self.reusable = _HEAD, b"", False
        self.transport.write(request)
        return self.head

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._state != _DONE:
            self._state = _DONE
            failure = UpstreamBroke(str(exc) if exc else "the server closed the connection")
            if self.head is not None and not self.head.done():
                self.head.set_exception(failure)
            else:
                self.on_end(failure)

    def data_received(self, data: bytes) -> None:
        if self._rest:
            data = self._rest + data
            self._rest = b""
        pos, size, state = 0, len(data), self._state
        pieces: list[bytes] = []
        while pos < size:
            if state in (_DATA, _LENGTH):
                take = min(self._left, size - pos)
                pieces.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if self._left == 0:
                    state = _CRLF if state == _DATA else _DONE
                    if state == _DONE:
                        break
            elif state == _SIZE:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._rest = data[pos:]
                    break
                self._left = int(data[pos:end].split(b";", 1)[0], 16)
                pos = end + 2
                state = _DATA if self._left else _TRAILER
            elif state == _CRLF:
                if size - pos < 2:
                    self._rest = data[pos:]
                    break
                pos += 2
                state = _SIZE
            elif state == _TRAILER:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    self._rest = data[pos:]
                    break
                blank = end == pos
                pos = end + 2
                if blank:  # the empty line that ends the trailers: the answer is whole
                    state = _DONE
                    break
            elif state == _HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._rest = data[pos:]
                    break
                state = self._parse_head(data[pos:end])
                pos = end + 4
            else:  # _DONE: bytes after the answer, which HTTP/1.1 does not allow
                self.reusable = False
                break
        self._state = state
        if pieces:
            self.on_body(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if state == _DONE:
            self.reusable = not self._lost and pos == size and not self._rest
            self.on_end(None)

    def _parse_head(self, head: bytes) -> int:
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        content_type = b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-type":
                content_type = value.strip()
        assert self.head is not None
        self.head.set_result((status, content_type))
        if chunked:
            return _SIZE
        self._left = length or 0
        return _LENGTH if self._left else _DONE


class ConnectionPool:
    """Kept-alive connections to one server, opened as needed."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.idle: list[StreamingConnection] = []

    async def take(self) -> StreamingConnection:
        while self.idle:
            connection = self.idle.pop()
            if not connection._lost:
                return connection
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(StreamingConnection, self.host, self.port)
        return protocol

    def give_back(self, connection: StreamingConnection) -> None:
        if connection.reusable and not connection._lost:
            self.idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()

    def request(self, path: str, body: bytes) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nAccept-Encoding: identity\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


class Pending:
    """What ``data_received`` made for the client, until the handler writes it: the handler is
    woken once per read, and the upstream read pauses while too much is waiting."""

    __slots__ = ("client", "connection", "ended", "failure", "parts", "size", "waiter")

    def __init__(self, connection: StreamingConnection) -> None:
        self.connection = connection
        self.client: asyncio.Transport | None = None
        """Set (the ``direct`` relay): a read goes to the client's socket from
        ``data_received`` itself, framed as an HTTP chunk, while nothing else waits and the
        client keeps up; the handler is not woken for it."""
        self.parts: list[bytes] = []
        self.size = 0
        self.ended = False
        self.failure: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def put(self, data: bytes) -> None:
        client = self.client
        if (
            data
            and client is not None
            and not self.parts
            and client.get_write_buffer_size() < PAUSE_AT
            and not client.is_closing()
        ):
            client.write(b"%x\r\n%b\r\n" % (len(data), data))
            return
        if data:
            self.parts.append(data)
            self.size += len(data)
            if self.size >= PAUSE_AT and self.connection.transport is not None:
                self.connection.transport.pause_reading()
            self._wake()

    def end(self, failure: BaseException | None) -> None:
        self.ended, self.failure = True, failure
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take(self) -> bytes:
        """What is waiting (``b""`` once the answer has ended)."""
        if not self.parts and not self.ended:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        parts = self.parts
        if not parts:
            if self.failure is not None:
                raise self.failure
            return b""
        if self.size >= PAUSE_AT and self.connection.transport is not None:
            self.connection.transport.resume_reading()
        self.parts, self.size = [], 0
        return parts[0] if len(parts) == 1 else b"".join(parts)


POOL_KEY: web.AppKey[ConnectionPool] = web.AppKey("pool", ConnectionPool)
WIRE_KEY: web.AppKey[bytes] = web.AppKey("wire", bytes)
DIRECT_KEY: web.AppKey[bool] = web.AppKey("direct", bool)


async def _protocol_relay(request: web.Request) -> web.StreamResponse:
    pool = request.app[POOL_KEY]
    body = await request.read()
    translating = request.path == "/v1/messages"
    sink = TranslatingSink() if translating else None
    if translating:
        body = request.app[WIRE_KEY]
    path = "/v1/chat/completions"
    connection = await pool.take()
    pending = Pending(connection)
    first = [True]

    def on_body(data: bytes) -> None:
        if sink is None:
            pending.put(data)
        else:
            pending.put(sink.feed(data, first=first[0]))
            first[0] = False

    connection.on_body = on_body
    connection.on_end = pending.end
    status, content_type = await connection.send(pool.request(path, body))
    response = web.StreamResponse(status=status)
    response.content_type = "text/event-stream" if translating else content_type.decode()
    await response.prepare(request)
    if request.app[DIRECT_KEY]:
        pending.client = request.transport
    try:
        while data := await pending.take():
            await response.write(data)
        if sink is not None:
            await response.write(sink.close())
        await response.write_eof()
    finally:
        pool.give_back(connection)
    return response


async def _aiohttp_relay(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION_KEY]
    body = await request.read()
    translating = request.path == "/v1/messages"
    sink = TranslatingSink() if translating else None
    if translating:
        body = request.app[WIRE_KEY]
    async with session.post(
        request.app[UPSTREAM_KEY] + "/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "Accept-Encoding": "identity"},
    ) as upstream:
        response = web.StreamResponse(status=upstream.status)
        response.content_type = "text/event-stream" if translating else upstream.content_type
        await response.prepare(request)
        first = True
        while data := await upstream.content.readany():
            if sink is not None:
                data = sink.feed(data, first=first)
                first = False
            if data:
                await response.write(data)
        if sink is not None:
            await response.write(sink.close())
        await response.write_eof()
        return response


def relay_app(
    reader: str, upstream: str, chunks: int, pace: float | None = None
) -> web.Application:
    app = web.Application()
    app[UPSTREAM_KEY] = upstream
    wire = chat_usage_body(SERVED, scenarios.stream_reply(chunks, pace or None))
    app[WIRE_KEY] = json.dumps(wire).encode()
    handler = _aiohttp_relay if reader == "aiohttp" else _protocol_relay
    app[DIRECT_KEY] = reader == "direct"

    async def clients(app: web.Application) -> AsyncIterator[None]:
        app[POOL_KEY] = ConnectionPool(upstream)
        app[SESSION_KEY] = aiohttp.ClientSession(auto_decompress=False)
        yield
        await app[SESSION_KEY].close()

    app.cleanup_ctx.append(clients)
    app.router.add_post("/v1/chat/completions", handler)
    app.router.add_post("/v1/messages", handler)
    app.router.add_get("/health", health)
    return app


# ------------------------------------------------------------------------ the measurement


def running_relay(
    workdir: Path, reader: str, upstream: str, chunks: int
) -> contextlib.AbstractContextManager[BareRelay]:
    arguments = ["--reader", reader, "--upstream", upstream, "--chunks", str(chunks)]
    return running_bare_relay(workdir, "bench.readpath", f"relay-{reader}", arguments)


def measure(levels: Sequence[int], seconds: float, rounds: int, chunks: int) -> str:
    reply = scenarios.stream_reply(chunks)
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="autosred-readpath-") as tmp:
        workdir = Path(tmp)
        with (
            running_sim(workdir) as sim,
            running_daemon(workdir, sim) as daemon,
            contextlib.ExitStack() as stack,
        ):
            host, port = daemon.api
            proxies: dict[str, tuple[str, int, int]] = {}
            for reader in READERS:
                relay = stack.enter_context(running_relay(workdir, reader, sim.url, chunks))
                proxies[reader] = (relay.host, relay.port, relay.process.pid)
            proxies["daemon"] = (host, port, daemon.pid)
            for surface, request in (("pass-through", "chat"), ("messages", "messages")):
                routes: dict[str, tuple[Route, int]] = {}
                for name, (phost, pport, pid) in proxies.items():
                    if name == "daemon":
                        build = daemon_openai if request == "chat" else daemon_anthropic
                        route = build(phost, pport, SERVED, reply)
                    else:
                        token = TOKEN if request == "messages" else None
                        route = Route(name, name, phost, pport, request, SERVED, reply, token)
                    routes[name] = (route, pid)
                events = {key: scenarios.count_events(route) for key, (route, _) in routes.items()}
                if len(set(events.values())) != 1:
                    raise StartError(f"the relays stream differently: {events}")
                for level in levels:
                    results = {key: Measured() for key in routes}
                    for round_ in range(rounds):
                        order = list(routes) if round_ % 2 == 0 else list(reversed(routes))
                        for key in order:
                            route, pid = routes[key]
                            one = measure_window(route, pid, level, events[key], seconds)
                            results[key].us_per_chunk += one.us_per_chunk
                            results[key].streams_per_second += one.streams_per_second
                            results[key].errors += one.errors
                            scenarios.settle(sim)
                    us = {key: median(r.us_per_chunk) for key, r in results.items()}
                    sps = {key: median(r.streams_per_second) for key, r in results.items()}
                    errors = sum(r.errors for r in results.values())
                    figures = " | ".join(f"{us[key]:.1f}" for key in routes)
                    ratios = " | ".join(f"{us[key] / us['aiohttp']:.2f}" for key in READERS[1:])
                    rates = " / ".join(f"{sps[key]:.0f}" for key in routes)
                    rows.append(
                        f"| {surface} | {level} | {figures} | {ratios} | {rates} | {errors} |"
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    header = [
        f"{chunks}-chunk streams, closed loop, {rounds} windows of {seconds:g} s per proxy, "
        "surface and concurrency, in turn; medians. CPU µs per event the client received.",
        "",
        "| surface | c | aiohttp | protocol | direct | daemon | protocol / aiohttp "
        "| direct / aiohttp | streams/s aiohttp / protocol / direct / daemon | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + rows)


@dataclass
class Counted:
    """What callgrind counted in a measured window."""

    instructions: int
    events: int
    reads: int
    """``recv`` calls (the upstream's and the client's sockets)."""


def _calls_to(dump: Path, names: frozenset[str]) -> int:
    """How many times the dumped process called any function in ``names`` (callgrind's
    ``cfn=(id) name`` lines name a callee once, then by id; ``calls=`` follows each)."""
    known: dict[str, str] = {}
    total, counting = 0, False
    for line in dump.read_text().splitlines():
        if line.startswith(("fn=(", "cfn=(")):
            ident, _, name = line.split("(", 1)[1].partition(")")
            if name.strip():
                known[ident] = name.strip()
            counting = line.startswith("cfn=") and known.get(ident) in names
        elif counting and line.startswith("calls="):
            total += int(line[6:].split()[0])
            counting = False
    return total


def _count_window(pid: int, probe: Route, out: Path, streams: int) -> Counted:
    """One warm-up stream, then callgrind's counters zeroed, ``streams`` streams one after
    another, and the counters dumped (``callgrind_control``): start-up, the first request's
    lazy work and shut-down are left out."""
    scenarios.count_events(probe)
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    events = sum(scenarios.count_events(probe) for _ in range(streams))
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    dump = out.with_name(out.name + ".1")
    for line in dump.read_text().splitlines():
        if line.startswith("summary:"):
            reads = _calls_to(dump, frozenset({"recv", "__libc_recv"}))
            return Counted(int(line.split()[1]), events, reads)
    raise StartError(f"no summary in {dump}")


def _callgrind_run(
    workdir: Path, sim: Sim, target: str, route: Route, *, streams: int, pace: float
) -> Counted:
    """``target`` (a relay or the daemon) under callgrind, counted over ``streams`` requests
    one after another."""
    out = workdir / f"callgrind-{target}-{route.request}.out"
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    if target == "daemon":
        home = workdir / f"daemon-{route.request}"
        home.mkdir()
        with running_daemon(
            home, sim, prefix=valgrind, start_timeout=600, stop_grace=300
        ) as daemon:
            host, port = daemon.api
            build = daemon_openai if route.request == "chat" else daemon_anthropic
            return _count_window(daemon.pid, build(host, port, SERVED, route.reply), out, streams)
    host, port = "127.0.0.1", free_port()
    command = [*valgrind, sys.executable, "-m", "bench.readpath", "serve"]
    command += ["--reader", target, "--upstream", sim.url, "--port", str(port)]
    command += ["--chunks", str(route.reply["chunks"]), "--pace", str(pace)]
    log = workdir / f"callgrind-{target}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, start_new_session=True)
    try:
        ready = lambda: http_get_status(host, port, "/health", timeout=30) == 200  # noqa: E731
        wait_until(target, ready, process, log, timeout=300)
        probe = Route(target, target, host, port, route.request, SERVED, route.reply)
        probe = dataclasses.replace(probe, token=route.token)
        return _count_window(process.pid, probe, out, streams)
    finally:
        stop_process(process, grace=120)


def count_instructions(
    streams: int,
    chunks: int,
    pace: float,
    keep: Path | None = None,
    targets: Sequence[str] = (*READERS, "daemon"),
) -> str:
    """Instructions per event of each relay and the daemon, each surface, under ``valgrind
    --tool=callgrind``, counted only over ``streams`` requests one after another (see
    `_count_window`). Paced at ``pace`` tokens/s, every upstream read carries one event (the
    case of a relay that keeps up with its server, as on a quiet machine at one stream; the
    reads per event say whether it held); unpaced (0), the relay slowed down by callgrind gets
    most of an answer in each read (per-chunk costs only). Counts hardly depend on the
    machine's load."""
    reply = scenarios.stream_reply(chunks, pace or None)
    paced = f"paced at {pace:g} tokens/s" if pace else "unpaced"
    rows = [
        f"{chunks}-chunk answers {paced}, {streams} streams one after another; instructions "
        "per event the client received (in brackets: `recv` calls per event, both sockets).",
        "",
        "| surface | aiohttp | protocol | direct | daemon | protocol / aiohttp "
        "| direct / aiohttp |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="autosred-readpath-") as tmp:
        workdir = Path(tmp)
        with running_sim(workdir) as sim:
            for surface, request in (("pass-through", "chat"), ("messages", "messages")):
                token = TOKEN if request == "messages" else None
                route = Route(surface, surface, "", 0, request, SERVED, reply, token)
                counted: dict[str, Counted] = {}
                for target in targets:
                    one = _callgrind_run(workdir, sim, target, route, streams=streams, pace=pace)
                    counted[target] = one
                    if keep is not None:  # for callgrind_annotate
                        keep.mkdir(parents=True, exist_ok=True)
                        for out in workdir.glob("callgrind-*.out*"):
                            shutil.copy(out, keep / out.name)
                    print(f"{surface} {target}: {one}", file=sys.stderr)
                per_event = {k: c.instructions / max(c.events, 1) for k, c in counted.items()}
                reads = {k: c.reads / max(c.events, 1) for k, c in counted.items()}
                figures = " | ".join(
                    f"{per_event[key]:,.0f} ({reads[key]:.2f})" if key in counted else "-"
                    for key in (*READERS, "daemon")
                )
                ratios = " | ".join(
                    f"{per_event[key] / per_event['aiohttp']:.2f}"
                    if key in per_event and "aiohttp" in per_event
                    else "-"
                    for key in READERS[1:]
                )
                rows.append(f"| {surface} | {figures} | {ratios} |")
    return "\n".join(rows)


def _levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readpath", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run one relay (what the measurement starts)")
    serve.add_argument("--reader", choices=READERS, required=True)
    serve.add_argument("--upstream", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--chunks", type=int, default=200)
    serve.add_argument("--pace", type=float, default=None, help="tokens/s of the answer")
    count = sub.add_parser("count", help="instructions per event under callgrind (see below)")
    count.add_argument("--streams", type=int, default=8)
    count.add_argument("--chunks", type=int, default=200)
    count.add_argument("--pace", type=float, default=100.0, help="tokens/s; 0: unpaced")
    count.add_argument("--keep", type=Path, default=None, help="copy callgrind's files here")
    count.add_argument("--targets", default="aiohttp,protocol,direct,daemon")
    parser.add_argument("--levels", type=_levels, default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "serve":
        app = relay_app(args.reader, args.upstream, args.chunks, args.pace)
        web.run_app(app, host=args.host, port=args.port, print=None)
        return 0
    if args.command == "count":
        targets = args.targets.split(",")
        print(count_instructions(args.streams, args.chunks, args.pace, args.keep, targets))
        return 0
    print(measure(args.levels, args.seconds, args.rounds, args.chunks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
