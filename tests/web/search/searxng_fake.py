"""A SearXNG on loopback speaking its JSON API (``GET /search?q=…&format=json``).

It answers as searx/webapp.py does: 403 when the format asked for is not enabled (the
shipped default enables only html), 429 from the limiter (with ``Retry-After`` when set),
and otherwise the object SearXNG's JSON output holds: ``query``, ``number_of_results``,
``results`` (``url``, ``title``, ``content``, ``engine``, ``engines``, ``parsed_url``,
``score``, ``category``, ``publishedDate``…), ``answers``, ``corrections``, ``infoboxes``,
``suggestions`` and ``unresponsive_engines`` (``[name, message]`` pairs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from multidict import MultiDict


def result(url: str, title: str, content: str = "", engine: str = "duckduckgo") -> dict[str, Any]:
    """One entry of ``results`` with the fields SearXNG fills for a web result."""
    parts = urlsplit(url)
    return {
        "url": url,
        "title": title,
        "content": content,
        "engine": engine,
        "template": "default.html",
        "parsed_url": [parts.scheme, parts.netloc, parts.path, "", parts.query, parts.fragment],
        "img_src": "",
        "thumbnail": "",
        "priority": "",
        "engines": [engine],
        "positions": [1],
        "score": 1.0,
        "category": "general",
        "publishedDate": None,
    }


@dataclass
class Searxng:
    url: str
    formats: tuple[str, ...] = ("html", "json")
    results: list[Any] = field(default_factory=list)
    suggestions: list[Any] = field(default_factory=list)
    corrections: list[Any] = field(default_factory=list)
    unresponsive_engines: list[Any] = field(default_factory=list)
    limited: bool = False
    """Answer 429 as SearXNG's limiter (botdetection) does."""
    retry_after: str | None = None
    status: int = 200
    raw_body: bytes | None = None
    """Sent as the body instead of the JSON object (for broken answers)."""
    queries: list[MultiDict[str]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    """While set to an unset event, a search waits for it before answering (a slow engine);
    ``asked`` is set once such a search arrived."""
    asked: asyncio.Event = field(default_factory=asyncio.Event)

    def body(self, query: MultiDict[str]) -> bytes:
        if self.raw_body is not None:
            return self.raw_body
        answer = {
            "query": query.get("q", ""),
            "number_of_results": 0,
            "results": self.results,
            "answers": [],
            "corrections": self.corrections,
            "infoboxes": [],
            "suggestions": self.suggestions,
            "unresponsive_engines": self.unresponsive_engines,
        }
        return json.dumps(answer).encode()


@contextlib.asynccontextmanager
async def searxng(tls: ssl.SSLContext | None = None) -> AsyncIterator[Searxng]:
    states: list[Searxng] = []

    async def search(request: web.Request) -> web.Response:
        state = states[0]
        query = MultiDict(request.query)
        state.queries.append(query)
        state.asked.set()
        if state.hold is not None:
            await state.hold.wait()
        output_format = query.get("format", "html")
        if output_format not in state.formats:
            return web.Response(status=403, text="Forbidden")
        if state.limited:
            headers = {"Retry-After": state.retry_after} if state.retry_after else {}
            return web.Response(status=429, text="Too Many Requests", headers=headers)
        if state.status != 200:
            return web.Response(status=state.status, text="Internal Server Error")
        return web.Response(body=state.body(query), content_type="application/json")

    app = web.Application()
    app.router.add_get("/search", search)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    scheme = "https" if tls else "http"
    states.append(Searxng(url=f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"))
    try:
        yield states[0]
    finally:
        await runner.cleanup()
