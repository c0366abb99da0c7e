"""The MCP Inspector CLI (npm ``@modelcontextprotocol/inspector``, pinned in
tests/clients/package.json, installed by tests/setup/install-test-deps.sh) as a client:
``--cli URL --transport http --method tools/list`` (and a call), against the host and against
the running daemon's servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.host.support import EchoTools, serve_host, token_entry
from tests.mcp.host.test_daemon import served_paths
from tests.support.daemon import base_config, running_daemon, sim_recipe

REPO = Path(__file__).resolve().parents[3]
INSPECTOR = REPO / "tests" / "clients" / "node_modules" / ".bin" / "mcp-inspector"


async def inspector(url: str, *args: str) -> Any:
    if not INSPECTOR.exists():
        pytest.fail(
            f"the MCP Inspector CLI is not installed at {INSPECTOR}: "
            "run `bash tests/setup/install-test-deps.sh` (node and npm needed)"
        )
    process = await asyncio.create_subprocess_exec(
        str(INSPECTOR),
        "--cli",
        url,
        "--transport",
        "http",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        out, err = await process.communicate()
    assert process.returncode == 0, (out.decode(), err.decode())
    return json.loads(out)


async def test_the_inspector_lists_and_calls_the_tools() -> None:
    async with serve_host() as served:
        listed = await inspector(served.url(), "--method", "tools/list")
        assert [tool["name"] for tool in listed["tools"]] == [
            spec.name for spec in EchoTools().tools()
        ]
        assert listed["tools"][0]["annotations"]["readOnlyHint"] is True
        called = await inspector(
            served.url(), "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "text=hé"
        )
        assert called["content"] == [{"type": "text", "text": "hé"}]
        assert called.get("isError", False) is False
    assert [record.getMessage() for record in served.records.named("mcp.call")] == ["mcp.call"]


async def test_the_inspector_with_a_client_token() -> None:
    async with serve_host(clients=[token_entry("inspector", "tok-i")]) as served:
        listed = await inspector(
            served.url(), "--header", "Authorization: Bearer tok-i", "--method", "tools/list"
        )
        assert listed["tools"]


async def test_the_inspector_lists_the_running_daemons_tools(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        for path in served_paths(daemon):
            listed = await inspector(daemon.api_url + path, "--method", "tools/list")
            assert listed["tools"], path
