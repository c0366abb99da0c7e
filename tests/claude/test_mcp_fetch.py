"""The daemon's MCP tools in the real Claude Code that `autosrectl claude` starts: with no
setup beyond the daemon's config, the model calls ``mcp__autosred-fetch__fetch`` on a page
on loopback, Claude Code calls the daemon's fetch server (with the client token the daemon
requires), and the page's text reaches the model in the next request's tool result."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.claude.support import (
    CLAUDE,
    MODEL,
    TITLE_SPEC,
    requires_claude_code,
    run_headless,
    scratch_env,
)
from tests.support.daemon import Daemon, running_daemon, sim_recipe
from tests.support.mcppage import MARKER, TOKEN, fetch_config, heron_page

pytestmark = requires_claude_code

TOOL = "mcp__autosred-fetch__fetch"


async def _turns(daemon: Daemon) -> list[dict[str, Any]]:
    """The chat completions of the agent's turns (those with tools), in order."""
    endpoint = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{endpoint}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    return [r for r in records if isinstance(r["body"], dict) and r["body"].get("tools")]


async def _autosrectl_claude(daemon: Daemon, tmp_path: Path, *args: str) -> dict[str, Any]:
    project = tmp_path / "project"
    project.mkdir(parents=True, exist_ok=True)
    env = scratch_env(tmp_path / "home", AUTOSRE_CLIENT_TOKEN=TOKEN)
    env["PATH"] = f"{CLAUDE.parent}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
    run = await run_headless(
        [*command, "claude", *args, "--output-format", "json"], cwd=project, env=env
    )
    assert run.rc == 0, run
    result = run.json()
    assert result["is_error"] is False, result
    return result


async def test_claude_code_fetches_a_page_through_the_daemons_fetch_tool(tmp_path: Path) -> None:
    recipe = sim_recipe(aliases=["claude-*"], claude_label=MODEL)
    async with (
        heron_page() as site,
        running_daemon(tmp_path, fetch_config(tmp_path, [recipe])) as daemon,
    ):
        code, lines = await daemon.admin(
            "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
        )
        assert code == 200 and lines[-1].get("ok"), lines
        endpoint = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
        script = [
            TITLE_SPEC,
            {"tool_calls": [{"name": TOOL, "arguments": {"url": site.url("/heron")}}]},
            {"text": "The page is about the grey heron."},
        ]
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{endpoint}/sim/script", json=script) as response:
                assert response.status == 200, await response.text()

        # In -p mode a tool runs only when allowed, MCP tools included.
        result = await _autosrectl_claude(
            daemon, tmp_path, "-p", "What is on the page?", "--allowedTools", TOOL
        )
        assert result["result"] == "The page is about the grey heron."

        turns = await _turns(daemon)
        assert len(turns) == 2, turns
        offered = [tool["function"]["name"] for tool in turns[0]["body"]["tools"]]
        assert TOOL in offered
        assert "mcp__autosred-search__search" in offered  # every enabled server is there
        results = [m for m in turns[1]["body"]["messages"] if m["role"] == "tool"]
        assert len(results) == 1
        text = json.dumps(results[0]["content"])
        assert MARKER in text and "grey heron" in text
        assert site.hits["/heron"] == 1  # fetched once, by the daemon, for the model

        # --no-mcp: the same Claude Code without the daemon's servers.
        await _script(endpoint, {"text": "No tools."})
        await _autosrectl_claude(daemon, tmp_path / "again", "--no-mcp", "-p", "Anything?")
        last = (await _turns(daemon))[-1]
        assert not [
            tool
            for tool in last["body"]["tools"]
            if tool["function"]["name"].startswith("mcp__autosred-")
        ]


async def _script(endpoint: str, *replies: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{endpoint}/sim/script", json=[TITLE_SPEC, *replies]) as response:
            assert response.status == 200, await response.text()
