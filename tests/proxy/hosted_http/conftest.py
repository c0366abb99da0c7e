"""One real daemon for the hosted web tools over HTTP, with the web it reaches on loopback.

- a SearXNG speaking its JSON API (tests/web/search/searxng_fake.py): ``mcp.search`` uses
  the SearXNG backend against it, with a per-minute limit a test can use up;
- an HTTPS site with a test CA (tests/web/fetch/sites.py): ``mcp.fetch`` trusts the CA and
  has loopback allow-listed (``mcp.fetch.allow``), robots.txt off;
- autosred-sim as the model, scripted per request with ``#sim`` directives whose ``then``
  gives the round after the tool's result.

``hosted_tools`` is left unset: the hosted tools are on because the MCP servers are.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from tests.proxy.anthropic_http.support import TOKEN, Api, sha256
from tests.proxy.responses.http.support import TOKEN as CODEX_TOKEN
from tests.support.daemon import base_config, running_daemon, sim_recipe
from tests.web.fetch.sites import Site, make_ca, running_site
from tests.web.search.searxng_fake import Searxng, result, searxng

ARTICLE = """<!doctype html><html><head><title>Hosted fetch article</title></head>
<body><nav>menu</nav><article><h1>Hosted fetch article</h1>
<p>The daemon fetched this page itself, through its address guard, for the model.</p>
<p>Its second paragraph says the answer is forty-two.</p></article></body></html>"""
SEARCH_PER_MINUTE = 20


@dataclass
class Web:
    searxng: Searxng
    site: Site
    ca_bundle: str


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def web_sites(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Web]:
    ca = make_ca(tmp_path_factory.mktemp("ca"))

    async def article(request: web.Request) -> web.Response:
        return web.Response(text=ARTICLE, content_type="text/html")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")

    async with searxng() as engine:
        tls = ca.server_context("127.0.0.1")
        async with running_site(
            {"/article": article, "/image.png": image}, ssl_context=tls
        ) as site:
            engine.results = [
                result(site.url("/article"), "Hosted fetch article", "The daemon fetched it."),
                result("https://docs.example.org/autosred", "Autosred docs", "A host daemon."),
            ]
            yield Web(engine, site, str(ca.bundle))


def hosted_config(tmp_path: Path, web_sites: Web, **sections: Any) -> dict[str, Any]:
    """The daemon's configuration: the sim as claude-* (and gpt-* for the /v1/responses
    tests), search and fetch on the local web."""
    recipe = sim_recipe(aliases=["claude-*", "gpt-*"], sim_args=["--max-model-len", "65536"])
    return base_config(
        tmp_path,
        [recipe],
        api={
            "clients": [
                {"name": "tester", "token_sha256": sha256(TOKEN)},
                {"name": "codex", "token_sha256": sha256(CODEX_TOKEN)},  # /v1/responses tests
            ]
        },
        mcp={
            "search": {
                "backend": "searxng",
                "searxng_url": web_sites.searxng.url,
                "per_minute": SEARCH_PER_MINUTE,
            },
            "fetch": {
                "allow": ["127.0.0.0/8"],
                "robots": False,
                "ca_bundle": web_sites.ca_bundle,
            },
        },
        **sections,
    )


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def api(tmp_path_factory: pytest.TempPathFactory, web_sites: Web) -> AsyncIterator[Api]:
    tmp_path = tmp_path_factory.mktemp("hosted")
    async with running_daemon(tmp_path, hosted_config(tmp_path, web_sites)) as daemon:
        async with aiohttp.ClientSession() as session:
            yield Api(daemon, session)
