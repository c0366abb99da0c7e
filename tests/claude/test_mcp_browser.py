"""The daemon's browser in the real Claude Code that `autosrectl claude` starts: the
simulated model calls ``mcp__autosred-browser__navigate`` on a page on loopback, then
``mcp__autosred-browser__click`` on the button's ref; Claude Code calls the daemon's browser
server (with the client token), the daemon's Chromium opens the page and clicks, and the
snapshot text after each action reaches the model in the next request's tool result."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
from aiohttp import web
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.claude.support import (
    CLAUDE,
    MODEL,
    TITLE_SPEC,
    requires_claude_code,
    run_headless,
    scratch_env,
)
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = requires_claude_code

NAVIGATE = "mcp__autosred-browser__navigate"
CLICK = "mcp__autosred-browser__click"
TOKEN = "browser-e2e-client-token"
MARKER = "Kingfisher-42"
"""Text the page shows only after its button is clicked: in a tool result, the click ran."""
PAGE = f"""<!doctype html><html><head><title>Bird log</title></head><body>
<h1>Bird log</h1>
<button onclick="document.body.insertAdjacentHTML('beforeend', '<p>Spotted: {MARKER}</p>')">
Reveal the sighting</button>
</body></html>"""


@asynccontextmanager
async def bird_page() -> AsyncIterator[str]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/log", page)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    (address, *_rest) = runner.addresses
    try:
        yield f"http://localhost:{int(address[1])}/log"
    finally:
        await runner.cleanup()


def browser_config(directory: Path) -> dict[str, Any]:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return base_config(
        directory,
        # Claude Code's own prompt (its system prompt and every tool's schema) is near the
        # simulator's default 32k context by itself; a real model has room for it.
        [
            sim_recipe(
                aliases=["claude-*"], claude_label=MODEL, sim_args=["--max-model-len", "131072"]
            )
        ],
        api={"clients": [{"name": "e2e", "token_sha256": digest}]},
        mcp={
            "fetch": {"enabled": False},
            "search": {"enabled": False},
            "capabilities": {"enabled": False},
            "browser": {"enabled": True, "allow": ["localhost"]},
        },
    )


async def button_ref(daemon: Daemon, url: str) -> str:
    """The button's ref as the browser numbers it on this page: a fresh context numbers
    the same page the same way, so the script can name it before Claude Code runs."""
    # The first call starts the browser, which takes seconds on a loaded machine: longer
    # than httpx's 5 s default read timeout.
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    async with (
        http,
        Client(
            streamable_http_client(daemon.api_url + "/mcp/browser", http_client=http),
            mode="legacy",
        ) as client,
    ):
        result = await client.call_tool("navigate", {"url": url})
        text = result.content[0].text  # type: ignore[union-attr]
    found = re.search(r'- button "Reveal the sighting" \[ref=(\w+)\]', text)
    assert found is not None, text
    return found.group(1)


async def _turns(endpoint: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{endpoint}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    return [r for r in records if isinstance(r["body"], dict) and r["body"].get("tools")]


async def test_claude_code_navigates_and_clicks_through_the_daemons_browser(
    tmp_path: Path,
) -> None:
    async with bird_page() as url, running_daemon(tmp_path, browser_config(tmp_path)) as daemon:
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        endpoint = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
        ref = await button_ref(daemon, url)
        script = [
            TITLE_SPEC,
            {"tool_calls": [{"name": NAVIGATE, "arguments": {"url": url}}]},
            {"tool_calls": [{"name": CLICK, "arguments": {"ref": ref}}]},
            {"text": "The sighting is a kingfisher."},
        ]
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{endpoint}/sim/script", json=script) as response:
                assert response.status == 200, await response.text()

        project = tmp_path / "project"
        project.mkdir()
        env = scratch_env(tmp_path / "home", AUTOSRE_CLIENT_TOKEN=TOKEN)
        env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"
        command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
        run = await run_headless(
            [
                *command, "claude", "-p", "What was sighted?", "--allowedTools",
                f"{NAVIGATE},{CLICK}", "--output-format", "json",
            ],
            cwd=project,
            env=env,
        )  # fmt: skip
        assert run.rc == 0, run
        result = run.json()
        assert result["is_error"] is False, result
        assert result["result"] == "The sighting is a kingfisher."

        turns = await _turns(endpoint)
        assert len(turns) == 3, [turn["body"]["messages"][-1] for turn in turns]
        offered = {tool["function"]["name"] for tool in turns[0]["body"]["tools"]}
        assert {NAVIGATE, CLICK} <= offered
        navigated = json.dumps(_tool_results(turns[1]))
        assert "Bird log" in navigated and f"[ref={ref}]" in navigated
        assert MARKER not in navigated
        clicked = json.dumps(_tool_results(turns[2])[-1])
        assert f"Clicked {ref}." in clicked and MARKER in clicked
        calls = [e for e in daemon.events_named("mcp.browser") if e.get("client") == "e2e"]
        assert [e["tool"] for e in calls][-2:] == ["navigate", "click"]


def _tool_results(turn: dict[str, Any]) -> list[Any]:
    return [m["content"] for m in turn["body"]["messages"] if m["role"] == "tool"]
