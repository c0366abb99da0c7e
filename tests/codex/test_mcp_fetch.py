"""The daemon's MCP tools in the real Codex CLI that `autosrectl codex` starts: Codex 0.169
defers MCP tools behind its own ``tool_search`` for gpt-5.5, so the model searches, Codex
loads ``fetch`` of the ``autosred-fetch`` server (namespace ``mcp__autosred_fetch``), the
model calls it on a page on loopback, Codex calls the daemon's fetch server (with the client
token through ``bearer_token_env_var``; a read-only tool needs no approval), and the page's
text reaches the model in the next request's tool result."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.codex.support import CODEX, requires_codex, run_headless
from tests.support.daemon import Daemon, running_daemon, sim_recipe
from tests.support.mcppage import MARKER, TOKEN, fetch_config, heron_page

pytestmark = requires_codex

TOOL = "mcp__autosred_fetch__fetch"
"""The loaded tool as the model sees it: namespace ``mcp__autosred_fetch``, name ``fetch``."""


async def _requests(daemon: Daemon) -> list[dict[str, Any]]:
    endpoint = str((await daemon.model("sim"))["endpoint"]).rstrip("/")
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{endpoint}/sim/requests", params={"path": "/v1/chat/completions"}
        ) as response:
            records = await response.json()
    assert isinstance(records, list)
    return records


async def test_codex_fetches_a_page_through_the_daemons_fetch_tool(tmp_path: Path) -> None:
    recipe = sim_recipe(aliases=["gpt-*"])
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
            {"tool_calls": [{"name": "tool_search", "arguments": {"query": "fetch a web page"}}]},
            {"tool_calls": [{"name": TOOL, "arguments": {"url": site.url("/heron")}}]},
            {"text": "The page is about the grey heron."},
        ]
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{endpoint}/sim/script", json=script) as response:
                assert response.status == 200, await response.text()

        home = tmp_path / "home"
        (home / "tmp").mkdir(parents=True)
        work = tmp_path / "work"
        work.mkdir()
        env = {
            "PATH": f"{CODEX.parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "LANG": "C.UTF-8",
            "AUTOSRE_CLIENT_TOKEN": TOKEN,
        }
        command = [sys.executable, "-m", "autosred.ctl", "--socket", str(daemon.admin_socket)]
        run = await run_headless(
            [*command, "codex", "exec", "--skip-git-repo-check", "What is on the page?"],
            cwd=work,
            env=env,
        )
        assert run.rc == 0, run
        assert run.out == "The page is about the grey heron.\n"

        records = await _requests(daemon)
        assert len(records) == 3, [r["body"]["messages"][-1] for r in records]
        first, loaded, answered = (record["body"] for record in records)
        assert "tool_search" in _names(first) and TOOL not in _names(first)
        assert TOOL in _names(loaded)  # the search loaded it
        results = [m for m in answered["messages"] if m["role"] == "tool"]
        assert len(results) == 2  # the search's answer, then the fetch's
        assert TOOL in results[0]["content"]
        text = json.dumps(results[1]["content"])
        assert MARKER in text and "grey heron" in text
        assert site.hits["/heron"] == 1


def _names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or []]
