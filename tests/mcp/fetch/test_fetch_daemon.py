"""The fetch tool in the real daemon, called with the official MCP SDK client over
Streamable HTTP at /mcp/fetch: a page on a local HTTPS site comes back as Markdown, pages
on, refusals are tool results with isError (never a protocol error), calls are logged; the
extraction workers end with the daemon."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from tests.support.daemon import base_config, running_daemon, sim_recipe
from tests.web.fetch.sites import SiteCA, body, page, redirect, running_site

MODES = ["legacy", "2026-07-28"]


def fetch_config(tmp_path: Path, ca: SiteCA, **fetch: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "allow": ["127.0.0.1/32"],
        "ca_bundle": str(ca.bundle),
        "robots": True,
        **fetch,
    }
    return base_config(
        tmp_path,
        [sim_recipe()],
        mcp={"fetch": settings, "search": {"enabled": False}, "capabilities": {"enabled": False}},
    )


def text_of(result: Any) -> str:
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text


def extraction_workers(pid: int) -> set[int]:
    """The daemon's extraction workers (spawn_main; not the resource tracker, not the reaper)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.add(int(child))
    return found


@pytest.mark.parametrize("mode", MODES)
async def test_fetch_over_mcp_in_the_daemon(tmp_path: Path, ca: SiteCA, mode: str) -> None:
    routes = {
        "/robots.txt": body(b"User-agent: *\nDisallow: /private\n", "text/plain"),
        "/docs/json.html": page("python-json.html"),
        "/private/x": body(b"hidden", "text/plain"),
        "/leave": redirect("http://127.0.0.2:9/"),
    }
    config = fetch_config(tmp_path, ca)
    async with running_site(routes, ssl_context=ca.server_context("127.0.0.1")) as site:
        async with running_daemon(tmp_path, config) as daemon:
            async with Client(daemon.api_url + "/mcp/fetch", mode=mode) as client:
                (tool,) = (await client.list_tools()).tools
                assert tool.name == "fetch"
                assert set(tool.input_schema["properties"]) == {
                    "url",
                    "max_length",
                    "start_index",
                    "raw",
                }
                assert tool.annotations is not None and tool.annotations.read_only_hint

                url = site.url("/docs/json.html")
                first = await client.call_tool("fetch", {"url": url, "max_length": 2000})
                assert not first.is_error, text_of(first)
                text = text_of(first)
                assert text.startswith(f"Contents of {url}:\n\n# ")
                assert "call fetch again with start_index=2000" in text

                second = await client.call_tool(
                    "fetch", {"url": url, "start_index": 2000, "max_length": 2000}
                )
                assert not second.is_error
                assert "[Characters 2000-4000 of " in text_of(second)

                refusals = {
                    "http://127.0.0.2/": "loopback",
                    "http://[::1]/": "loopback",
                    "http://169.254.169.254/latest/meta-data/": "link-local",
                    site.url("/private/x"): "robots.txt disallows",
                    site.url("/leave"): "redirected to",
                    "file:///etc/passwd": "only http and https",
                }
                for refused_url, why in refusals.items():
                    result = await client.call_tool("fetch", {"url": refused_url})
                    assert result.is_error, refused_url
                    assert why in text_of(result), text_of(result)

                bad = await client.call_tool("fetch", {"url": url, "max_length": -5})
                assert bad.is_error and "max_length" in text_of(bad)
            assert site.hits["/private/x"] == 0
            workers = extraction_workers(daemon.process.pid)
            assert workers, "the extraction worker runs as a child of the daemon"
            # A stop closes the group: the daemon has ended and reaped its workers by the
            # time it exits.
            daemon.process.send_signal(signal.SIGTERM)
            assert await daemon.process.wait() == 0
            assert not any(Path(f"/proc/{worker}").exists() for worker in workers)
        events = daemon.events_named("mcp.fetch")
        assert {event["outcome"] for event in events} >= {"ok", "refused", "fetchfailed", "badurl"}
        assert not any("Traceback" in line for line in daemon.log_path.read_text().splitlines())


async def test_extraction_workers_die_with_a_killed_daemon(tmp_path: Path, ca: SiteCA) -> None:
    async with running_site({"/p": page("python-urllib-robotparser.html")}) as site:
        async with running_daemon(tmp_path, fetch_config(tmp_path, ca)) as daemon:
            async with Client(daemon.api_url + "/mcp/fetch", mode="legacy") as client:
                result = await client.call_tool("fetch", {"url": site.url("/p")})
                assert not result.is_error, text_of(result)
            workers = extraction_workers(daemon.process.pid)
            assert workers
            os.kill(daemon.process.pid, signal.SIGKILL)  # the daemon alone, not its group
            await daemon.process.wait()
            deadline = time.monotonic() + 10
            while any(alive(worker) for worker in workers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not any(alive(worker) for worker in workers), "a worker outlived the daemon"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"
