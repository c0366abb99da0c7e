"""The capabilities tools against the real daemon (autosred-sim on the process engine), side
by side with `autosrectl --json` on the same admin socket: the same answers, the same errors,
and an allowed `scale` that really starts and stops the model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from autosred.config import CapabilitiesSettings
from autosred.mcp.capabilities import CapabilityTools
from autosred.mcp.tools import ToolResult, ToolSpec
from tests.support.ctl import autosrectl
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    config = base_config(tmp_path, [sim_recipe("alpha"), sim_recipe("beta")])
    async with running_daemon(tmp_path, config) as running:
        yield running


@pytest.fixture
async def groups() -> AsyncIterator[list[CapabilityTools]]:
    """The groups a test built, closed at its end as the daemon closes its own."""
    built: list[CapabilityTools] = []
    yield built
    for group in built:
        await group.close()


@pytest.fixture
def tools(daemon: Daemon, groups: list[CapabilityTools]) -> Callable[..., dict[str, ToolSpec]]:
    def build(*allow: str) -> dict[str, ToolSpec]:
        group = CapabilityTools(
            CapabilitiesSettings(allow=list(allow)), admin_socket=daemon.admin_socket
        )
        groups.append(group)
        return {spec.name: spec for spec in group.tools()}

    return build


async def cli_json(daemon: Daemon, *args: str) -> Any:
    code, out, err = await autosrectl("--socket", str(daemon.admin_socket), "--json", *args)
    assert code == 0, err
    return json.loads(out)


async def answer(spec: ToolSpec, **arguments: Any) -> Any:
    result = await spec.handler(arguments)
    assert not result.is_error, result.text
    return json.loads(result.text)


async def test_read_only_tools_answer_what_autosrectl_json_prints(
    daemon: Daemon, tools: Callable[..., dict[str, ToolSpec]]
) -> None:
    listed = tools()
    status = await answer(listed["status"])
    expected = await cli_json(daemon, "status")
    # The only thing that moves between the two calls is the clock.
    assert status.pop("uptime_seconds") <= expected.pop("uptime_seconds")
    assert status == expected
    assert await answer(listed["models"]) == await cli_json(daemon, "models")
    assert await answer(listed["models_running"]) == await cli_json(daemon, "models", "running")
    assert await answer(listed["version"]) == await cli_json(daemon, "version")
    # The process engine renders no Deployment: drift says so per model, as the CLI does.
    assert await answer(listed["drift"]) == await cli_json(daemon, "drift")


async def test_an_allowed_scale_starts_and_stops_the_model(
    daemon: Daemon, tools: Callable[..., dict[str, ToolSpec]]
) -> None:
    listed = tools("scale")
    records = await listed["scale"].handler({"direction": "up", "model": "beta", "wait": True})
    assert not records.is_error, records.text
    lines = [json.loads(line) for line in records.text.splitlines()]
    assert lines[-1]["model"] == "beta" and lines[-1]["state"] == "ready"
    assert (await daemon.model("beta"))["state"] == "ready"
    running = await answer(listed["models_running"])
    assert [model["name"] for model in running["models"]] == ["beta"]

    stopped = await listed["scale"].handler({"direction": "down", "model": "beta", "wait": True})
    assert not stopped.is_error, stopped.text
    assert json.loads(stopped.text.splitlines()[-1])["state"] == "stopped"
    assert (await daemon.model("beta"))["state"] == "stopped"


async def test_a_failed_command_is_a_tool_error_with_the_clis_line(
    daemon: Daemon, tools: Callable[..., dict[str, ToolSpec]]
) -> None:
    listed = tools("scale")
    result = await listed["scale"].handler({"direction": "up", "model": "gamma"})
    code, out, err = await autosrectl(
        "--socket", str(daemon.admin_socket), "--json", "scale", "up", "gamma"
    )
    assert code == 1 and out == ""
    assert result == ToolResult.error(err.rstrip("\n"))
    assert "gamma" in result.text


async def test_without_allow_nothing_that_changes_state_is_offered(
    daemon: Daemon, tools: Callable[..., dict[str, ToolSpec]]
) -> None:
    listed = tools()
    assert {"scale", "models_switch", "reload"}.isdisjoint(listed)
    assert (await daemon.model("alpha"))["state"] == "stopped"
