"""Real HTTP and HTTPS test sites on loopback for the fetch tool (aiohttp servers; HTTPS
with a trustme CA the tool is told to trust through ``mcp.fetch.ca_bundle``)."""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiohttp import web

PAGES = Path(__file__).parent / "pages"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Site:
    """One running site: its base URL and how often each path was asked for."""

    base: str
    hits: Counter[str] = field(default_factory=Counter)
    hosts: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


@dataclass(frozen=True)
class SiteCA:
    ca: trustme.CA
    bundle: Path

    def server_context(self, *names: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*names).configure_cert(context)
        return context


def make_ca(directory: Path) -> SiteCA:
    ca = trustme.CA()
    bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return SiteCA(ca, bundle)


@asynccontextmanager
async def running_site(
    routes: dict[str, Handler],
    *,
    ssl_context: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Site]:
    """A site answering ``routes`` (path -> handler), anything else 404; it counts hits
    and remembers the Host header of each request."""
    site = Site("")

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        site.hits[request.path] += 1
        site.hosts.append(request.headers.get("Host", ""))
        return await handler(request)

    app = web.Application(middlewares=[count])
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    tcp = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await tcp.start()
    (address, *_rest) = runner.addresses
    port = int(address[1])
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    site.base = f"{scheme}://{shown}:{port}"
    try:
        yield site
    finally:
        await runner.cleanup()


def page(name: str, content_type: str = "text/html; charset=utf-8") -> Handler:
    body = (PAGES / name).read_bytes()

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handler


def body(data: bytes, content_type: str | None, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=data, status=status)
        if content_type is None:
            response.content_type = "application/octet-stream"
            del response.headers["Content-Type"]
        else:
            response.headers["Content-Type"] = content_type
        return response

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


def streamed(chunk: bytes, count: int, content_type: str = "text/plain") -> Handler:
    """A body sent in ``count`` chunks with no Content-Length (chunked encoding)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(count):
            await response.write(chunk)
        await response.write_eof()
        return response

    return handler


def never_answers(released: asyncio.Event) -> Handler:
    """Holds the request until ``released`` is set (the test sets it when done)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await released.wait()
        return web.Response(text="too late")

    return handler


def echo_host() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"host={request.headers.get('Host')}")

    return handler
