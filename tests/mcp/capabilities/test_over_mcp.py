"""The capabilities server of the running daemon, through the official MCP SDK client over
HTTP (`/mcp/capabilities` on the api listener), next to `autosrectl --json` on its admin
socket: the tool list is the CLI's, the answers are the CLI's, changing tools appear only when
allowed, and an allowed one really acts on the model (autosred-sim on the process engine)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from autosred.config import CapabilitiesSettings
from autosred.mcp.capabilities import CapabilityTools
from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

READ_ONLY = [
    "status",
    "models",
    "models_running",
    "version",
    "drift",
    "recipe_helm_values",
    "dropbox_cert",
    "dropbox_token_ls",
    "dropbox_ls",
]


@asynccontextmanager
async def daemon_with(tmp_path: Path, *allow: str) -> AsyncIterator[Daemon]:
    config = base_config(
        tmp_path,
        [sim_recipe("alpha"), sim_recipe("beta")],
        mcp={"capabilities": {"allow": list(allow)}},
    )
    async with running_daemon(tmp_path, config) as daemon:
        yield daemon


def url(daemon: Daemon) -> str:
    return f"{daemon.api_url}/mcp/capabilities"


def text_of(result: types.CallToolResult) -> str:
    (content,) = result.content
    assert isinstance(content, types.TextContent)
    return content.text


async def call(client: Client, name: str, **arguments: Any) -> Any:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, text_of(result)
    return json.loads(text_of(result))


async def cli_json(daemon: Daemon, *args: str) -> Any:
    code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "--json", *args)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_tools_are_the_clis_read_only_commands(tmp_path: Path, mode: str) -> None:
    async with daemon_with(tmp_path) as daemon, Client(url(daemon), mode=mode) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert list(listed) == READ_ONLY
        # What the daemon serves is what the CLI's tree derives to, schema and all.
        derived = CapabilityTools(CapabilitiesSettings(), admin_socket=daemon.admin_socket)
        for spec in derived.tools():
            tool = listed[spec.name]
            assert tool.description == spec.description
            assert tool.input_schema == dict(spec.input_schema)
            assert tool.annotations is not None and tool.annotations.read_only_hint is True
        await derived.close()

        status = await call(client, "status")
        expected = await cli_json(daemon, "status")
        assert status.pop("uptime_seconds") <= expected.pop("uptime_seconds")
        assert status == expected
        assert await call(client, "models") == await cli_json(daemon, "models")
        assert await call(client, "models_running") == await cli_json(daemon, "models", "running")
        assert await call(client, "version") == await cli_json(daemon, "version")

        # Not allowed: not there, and nothing happens.
        with pytest.raises(MCPError, match="Unknown tool: scale"):
            await client.call_tool("scale", {"direction": "up", "model": "alpha"})
        assert (await daemon.model("alpha"))["state"] == "stopped"


async def test_allowed_tools_change_state_and_refuse_bad_arguments(tmp_path: Path) -> None:
    async with (
        daemon_with(tmp_path, "scale", "models_switch") as daemon,
        Client(url(daemon)) as client,
    ):
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(listed) == {*READ_ONLY, "scale", "models_switch"}
        assert listed["scale"].annotations is not None
        assert listed["scale"].annotations.read_only_hint is False

        woken = await client.call_tool("scale", {"direction": "up", "model": "alpha", "wait": True})
        assert not woken.is_error, text_of(woken)
        assert json.loads(text_of(woken).splitlines()[-1])["state"] == "ready"
        assert (await daemon.model("alpha"))["state"] == "ready"

        switched = await client.call_tool("models_switch", {"model": "beta", "wait": True})
        assert not switched.is_error, text_of(switched)
        states = {m["name"]: m["state"] for m in (await daemon.status())["models"]}
        assert states == {"alpha": "stopped", "beta": "ready"}

        bad = await client.call_tool("scale", {"direction": "sideways", "model": "alpha"})
        assert bad.is_error
        assert text_of(bad).startswith("Invalid arguments: direction: Input should be 'up'")

        unknown = await client.call_tool("scale", {"direction": "up", "model": "gamma"})
        code, _, err = await autosrectl(
            "--socket", str(daemon.admin_socket), "scale", "up", "gamma"
        )
        assert unknown.is_error and code == 1
        assert text_of(unknown) == err.rstrip("\n")
