"""A page on loopback for the real clients to fetch through the daemon's fetch tool, and the
daemon configuration that lets the fetch tool reach it (loopback is refused by default)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.daemon import base_config
from tests.web.fetch.sites import Site, body, running_site

MARKER = "Heron-7f3a"
"""A word of the page's text that appears nowhere else: seen in a tool result, the page's
text reached the model."""
TOKEN = "mcp-e2e-client-token"
"""The client token the daemon requires (api.clients): the MCP servers need it too."""
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The grey heron</title></head>
<body><nav><a href="/">Home</a> | <a href="/birds">Birds</a></nav>
<main><article>
<h1>The grey heron</h1>
<p>The grey heron stands motionless in shallow water for a long time, then strikes at a
fish with its long neck. Ringers know this bird by the code {MARKER}.</p>
<p>It nests in colonies high in trees near lakes and rivers, and the same heronry may be
used for many decades.</p>
<p>In flight the neck is drawn back into an S shape, which tells it from storks and cranes
at a distance.</p>
</article></main>
<footer>Local test page, served on loopback.</footer>
</body></html>
""".encode()


@asynccontextmanager
async def heron_page() -> AsyncIterator[Site]:
    """The page at ``/heron`` on 127.0.0.1 (robots.txt: 404, so everything is allowed)."""
    async with running_site({"/heron": body(PAGE, "text/html; charset=utf-8")}) as site:
        yield site


def fetch_config(directory: Path, recipes: list[dict[str, Any]]) -> dict[str, Any]:
    """A daemon whose fetch tool may reach loopback, with a client token required."""
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return base_config(
        directory,
        recipes,
        api={"clients": [{"name": "e2e", "token_sha256": digest}]},
        mcp={"fetch": {"allow": ["127.0.0.0/8"]}},
    )
