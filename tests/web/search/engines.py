"""Search engines on loopback, reached through a real HTTP CONNECT proxy.

ddgs calls fixed https URLs (``https://html.duckduckgo.com/html/``…). Pointed at this proxy
(``mcp.search.proxy``), its HTTP client (primp) sends ``CONNECT host:443``; the proxy opens a
tunnel to one local HTTPS server whose certificate, from a test CA (trustme), names every
engine host, and primp trusts that CA through ``mcp.search.ca_file``. So the request ddgs
builds, its TLS, and its HTML parser all run as against the real engines; only the pages are
ours (pages/README.md says how they were built). A CONNECT to any other host is answered
502, so an engine the test did not set up fails at once instead of reaching for the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiohttp import web
from multidict import MultiDict

PAGES = Path(__file__).parent / "pages"
DUCKDUCKGO = "html.duckduckgo.com"
MOJEEK = "www.mojeek.com"
HOSTS = (DUCKDUCKGO, MOJEEK)


def page(name: str) -> str:
    return (PAGES / name).read_text(encoding="utf-8")


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    content_type: str = "text/html"
    hold: bool = False
    """Never answer (until the site closes): for timeouts."""


@dataclass(frozen=True)
class SeenRequest:
    host: str
    method: str
    path: str
    query: MultiDict[str]
    form: MultiDict[str]
    cookies: dict[str, str]


@dataclass
class EngineSite:
    """What the engines answer (per host) and what they were asked."""

    ca_file: Path
    proxy_url: str
    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=list)
    """The CONNECT targets the proxy was asked for, in order (``host:port``)."""
    released: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the first request that reaches an engine."""

    def answer(self, host: str, answer: Answer) -> None:
        self.answers[host] = answer

    def asked(self, host: str) -> list[SeenRequest]:
        return [request for request in self.requests if request.host == host]


@contextlib.asynccontextmanager
async def engine_site(tmp_path: Path) -> AsyncIterator[EngineSite]:
    ca = trustme.CA()
    ca_file = tmp_path / "search-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*HOSTS).configure_cert(server_tls)

    site_state: list[EngineSite] = []

    async def engine(request: web.Request) -> web.StreamResponse:
        state = site_state[0]
        host = request.host.split(":")[0]
        form = await request.post() if request.method == "POST" else MultiDict()
        state.requests.append(
            SeenRequest(
                host=host,
                method=request.method,
                path=request.path,
                query=MultiDict(request.query),
                form=MultiDict((key, str(value)) for key, value in form.items()),
                cookies=dict(request.cookies),
            )
        )
        state.arrived.set()
        answer = state.answers.get(host)
        if answer is None:
            return web.Response(status=404, text="no page set up for this engine")
        if answer.hold:
            await state.released.wait()
        return web.Response(
            status=answer.status, text=answer.body, content_type=answer.content_type
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", engine)
    runner = web.AppRunner(app)
    await runner.setup()
    tls_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await tls_site.start()
    engines_port = runner.addresses[0][1]

    tunnels: set[asyncio.Task[None]] = set()

    async def proxy(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        try:
            head = await client_reader.readuntil(b"\r\n\r\n")
            method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            site_state[0].tunnels.append(target)
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or host not in HOSTS or port != "443":
                client_writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                await client_writer.drain()
                return
            engine_reader, engine_writer = await asyncio.open_connection("127.0.0.1", engines_port)
            client_writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await client_writer.drain()
            await asyncio.gather(
                _pipe(client_reader, engine_writer), _pipe(engine_reader, client_writer)
            )
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # the client went away, or sent something that is not a CONNECT
        finally:
            client_writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(proxy(reader, writer))
        tunnels.add(task)
        task.add_done_callback(tunnels.discard)

    proxy_server = await asyncio.start_server(track, "127.0.0.1", 0)
    proxy_port = proxy_server.sockets[0].getsockname()[1]
    state = EngineSite(ca_file=ca_file, proxy_url=f"http://127.0.0.1:{proxy_port}")
    site_state.append(state)
    try:
        yield state
    finally:
        state.released.set()
        proxy_server.close()
        for task in list(tunnels):
            task.cancel()
        await asyncio.gather(*tunnels, return_exceptions=True)
        await proxy_server.wait_closed()
        await runner.cleanup()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        # The other side may be gone already (ENOTCONN): nothing left to half-close.
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()
