"""The search tool in the running daemon, called by the official MCP SDK client over HTTP at
``/mcp/search``: through ddgs (engine pages behind the local CONNECT proxy) and through a
local SearXNG, with the daemon's per-minute limit."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client

from autosred.config import SHUTDOWN_MARGIN
from tests.support.daemon import base_config, metric_value, running_daemon, sim_recipe
from tests.web.search.engines import DUCKDUCKGO, Answer, EngineSite, page
from tests.web.search.searxng_fake import result, searxng


def daemon_config(tmp_path: Path, search: dict[str, Any]) -> dict[str, Any]:
    return base_config(
        tmp_path,
        [sim_recipe()],
        mcp={
            "fetch": {"enabled": False},
            "capabilities": {"enabled": False},
            "search": search,
        },
    )


def text_of(result: types.CallToolResult) -> str:
    (content,) = result.content
    assert isinstance(content, types.TextContent)
    return content.text


async def test_ddgs_search_through_the_daemon(tmp_path: Path, engines: EngineSite) -> None:
    engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo.html")))
    config = daemon_config(
        tmp_path,
        {
            "backend": "ddgs",
            "ddgs_backends": ["duckduckgo"],
            "proxy": engines.proxy_url,
            "ca_file": str(engines.ca_file),
            "per_minute": 2,
        },
    )
    async with running_daemon(tmp_path, config) as daemon:
        async with Client(f"{daemon.api_url}/mcp/search") as client:
            (tool,) = (await client.list_tools()).tools
            assert tool.name == "search"
            assert set(tool.input_schema["properties"]) == {
                "query",
                "max_results",
                "region",
                "safesearch",
                "timelimit",
            }
            assert tool.input_schema["required"] == ["query"]
            assert tool.annotations is not None and tool.annotations.read_only_hint

            found = await client.call_tool("search", {"query": "python asyncio", "max_results": 2})
            assert not found.is_error, text_of(found)
            assert text_of(found).splitlines()[2] == (
                "1. [Async/await - Wikipedia](<https://en.wikipedia.org/wiki/Async/await>)"
            )
            assert "2. [" in text_of(found) and "3. [" not in text_of(found)

            engines.answer(DUCKDUCKGO, Answer(body=page("duckduckgo-no-results.html")))
            empty = await client.call_tool("search", {"query": "qwxzvq kjhgf zzzq"})
            assert empty.is_error
            assert text_of(empty).startswith("No results for 'qwxzvq kjhgf zzzq'.")

            limited = await client.call_tool("search", {"query": "python asyncio"})
            assert limited.is_error
            assert "(2 searches a minute, mcp.search.per_minute) is used up" in text_of(limited)

            bad = await client.call_tool("search", {"query": "x", "max_results": 0})
            assert bad.is_error
            assert text_of(bad).startswith("Invalid arguments: max_results:")

        assert len(engines.asked(DUCKDUCKGO)) == 2  # the limited call never left the daemon
        metrics = await daemon.metrics()
        assert (
            metric_value(
                metrics, "autosred_mcp_calls_total", server="search", tool="search", outcome="ok"
            )
            == 1
        )
        assert (
            metric_value(
                metrics,
                "autosred_mcp_calls_total",
                server="search",
                tool="search",
                outcome="tool_error",
            )
            == 3
        )
        outcomes = [
            (event["kind"], event["backend"]) for event in daemon.events_named("mcp.search.failed")
        ]
        assert outcomes == [("no_results", "ddgs")]
        assert [event["results"] for event in daemon.events_named("mcp.search.done")] == [2]
        assert len(daemon.events_named("mcp.search.limited")) == 1


async def test_searxng_search_through_the_daemon(tmp_path: Path) -> None:
    async with searxng() as instance:
        instance.results = [result("https://example.org/", "Example", "An example page.")]
        config = daemon_config(tmp_path, {"backend": "searxng", "searxng_url": instance.url})
        async with running_daemon(tmp_path, config) as daemon:
            async with Client(f"{daemon.api_url}/mcp/search") as client:
                found = await client.call_tool("search", {"query": "example"})
                assert not found.is_error, text_of(found)
                assert text_of(found) == (
                    "Search results for 'example' (1, via searxng):\n"
                    "\n"
                    "1. [Example](<https://example.org/>)\n"
                    "   An example page."
                )
                instance.limited = True
                instance.retry_after = "30"
                limited = await client.call_tool("search", {"query": "example"})
                assert limited.is_error
                assert text_of(limited).endswith("Retry in 30 seconds.")
        assert [dict(query)["q"] for query in instance.queries] == ["example", "example"]


async def test_a_search_held_by_its_engine_does_not_hold_the_daemons_stop(
    tmp_path: Path, engines: EngineSite
) -> None:
    # ddgs's threads cannot be cancelled and the interpreter joins them at exit: what ends
    # them is ddgs's own per-request timeout (set from mcp.search.timeout, here longer than
    # the grace). An engine that never answers must not keep the daemon past its stop; with
    # a timeout of 20 s this test fails (measured).
    engines.answer(DUCKDUCKGO, Answer(hold=True))
    grace = 1.0
    config = daemon_config(
        tmp_path,
        {
            "backend": "ddgs",
            "ddgs_backends": ["duckduckgo"],
            "proxy": engines.proxy_url,
            "ca_file": str(engines.ca_file),
            "timeout": 4,
        },
    )
    config["shutdown"] = {"grace": grace}
    async with running_daemon(tmp_path, config) as daemon:
        client = Client(f"{daemon.api_url}/mcp/search")
        await client.__aenter__()
        call = asyncio.create_task(client.call_tool("search", {"query": "python asyncio"}))
        try:
            async with asyncio.timeout(30):
                await engines.arrived.wait()
            daemon.signal(signal.SIGTERM)
            assert await daemon.wait_exit(timeout=grace + SHUTDOWN_MARGIN) == 0
            assert not engines.released.is_set()  # the engine never answered
        finally:
            call.cancel()
            with contextlib.suppress(BaseException):
                await call
            with contextlib.suppress(BaseException):
                await client.__aexit__(None, None, None)
