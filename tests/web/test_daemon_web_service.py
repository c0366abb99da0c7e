"""The daemon's one WebService in the real daemon: the MCP ``search`` tool (the official MCP
SDK client at /mcp/search) and the hosted ``web_search`` on /v1/messages count against one
``mcp.search.per_minute``, and a refused search reaches no engine (the local SearXNG's
record of queries).

The limit's window is 60 s; the four searches here follow each other at once (the daemon is
up before the first), so all four fall in one window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from mcp import Client
from mcp.types import TextContent

from tests.support.daemon import base_config, running_daemon, sim_recipe
from tests.web.search.searxng_fake import result, searxng

SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}


def hosted_search(query: str) -> dict[str, Any]:
    """A /v1/messages body whose model (autosred-sim) calls the hosted search once, then
    answers."""
    directive = "#sim " + json.dumps(
        {
            "tool_calls": [{"name": "web_search", "arguments": {"query": query}}],
            "then": [{"text": "done"}],
        }
    )
    return {
        "model": "claude-sonnet-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": directive}],
        "tools": [SEARCH_TOOL],
    }


async def test_mcp_and_hosted_searches_share_the_daemons_limit(tmp_path: Path) -> None:
    async with searxng() as engine:
        engine.results = [result("https://example.org/shared", "Shared", "one limit")]
        config = base_config(
            tmp_path,
            [sim_recipe(aliases=["claude-*"])],
            mcp={
                "search": {"backend": "searxng", "searxng_url": engine.url, "per_minute": 2},
                "fetch": {"enabled": False},
                "capabilities": {"enabled": False},
            },
        )
        async with (
            running_daemon(tmp_path, config) as daemon,
            aiohttp.ClientSession(base_url=daemon.api_url) as http,
            Client(f"{daemon.api_url}/mcp/search") as mcp,
        ):

            async def hosted(query: str) -> dict[str, Any]:
                async with http.post("/v1/messages", json=hosted_search(query)) as response:
                    assert response.status == 200, await response.text()
                    answer: dict[str, Any] = await response.json()
                searched: list[dict[str, Any]] = [
                    block
                    for block in answer["content"]
                    if block["type"] == "web_search_tool_result"
                ]
                assert len(searched) == 1, answer
                return searched[0]

            async def over_mcp(query: str) -> tuple[bool, str]:
                called = await mcp.call_tool("search", {"query": query})
                (text,) = called.content
                assert isinstance(text, TextContent)
                return called.is_error, text.text

            first = await over_mcp("first, over mcp")
            second = await hosted("second, hosted")
            third = await hosted("third, hosted")
            fourth = await over_mcp("fourth, over mcp")
    assert not first[0] and "https://example.org/shared" in first[1]
    assert [hit["url"] for hit in second["content"]] == ["https://example.org/shared"]
    assert third["content"]["error_code"] == "too_many_requests"
    assert fourth[0] and fourth[1].startswith(
        "This server's search limit (2 searches a minute, mcp.search.per_minute) is used up."
    )
    assert [query["q"] for query in engine.queries] == ["first, over mcp", "second, hosted"]
