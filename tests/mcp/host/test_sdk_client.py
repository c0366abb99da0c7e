"""The official MCP SDK client against the host on a real socket, in every mode it speaks:
``legacy`` (the initialize handshake, 2025-11-25, a session), ``2026-07-28`` (the
stateless single exchange) and ``auto`` (discovery first)."""

from __future__ import annotations

import logging

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp.host.support import EchoTools, Records, serve_host, token_entry

MODES = ["legacy", "2026-07-28", "auto"]
EXPECTED_VERSION = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28", "auto": "2026-07-28"}


@pytest.mark.parametrize("mode", MODES)
async def test_tools_are_listed_as_the_group_declares_them(mode: str) -> None:
    async with serve_host() as served, Client(served.url(), mode=mode) as client:
        assert client.protocol_version == EXPECTED_VERSION[mode]
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        specs = {spec.name: spec for spec in EchoTools().tools()}
        assert list(listed) == list(specs)
        for name, spec in specs.items():
            tool = listed[name]
            assert tool.description == spec.description
            assert tool.input_schema == dict(spec.input_schema)
            assert tool.title == spec.title
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is spec.read_only
        assert client.server_info is None or client.server_info.name == "autosred-echo"


@pytest.mark.parametrize("mode", MODES)
async def test_a_call_answers_counts_and_logs(mode: str) -> None:
    async with serve_host() as served, Client(served.url(), mode=mode) as client:
        result = await client.call_tool("echo", {"text": "grüß dich"})
        assert not result.is_error
        assert result.content == [types.TextContent(type="text", text="grüß dich")]

        refused = await client.call_tool("refuse", {})
        assert refused.is_error
        assert refused.content == [
            types.TextContent(type="text", text="Refused, as always. Try echo instead.")
        ]

        bad_arguments = await client.call_tool("echo", {"text": 3})
        assert bad_arguments.is_error
        assert "text" in bad_arguments.content[0].text  # type: ignore[union-attr]

    assert served.metric("autosred_mcp_calls_total", server="echo", tool="echo", outcome="ok") == 1
    assert (
        served.metric("autosred_mcp_calls_total", server="echo", tool="echo", outcome="tool_error")
        == 1
    )
    assert (
        served.metric(
            "autosred_mcp_calls_total", server="echo", tool="refuse", outcome="tool_error"
        )
        == 1
    )
    assert (
        served.metric("autosred_mcp_call_duration_seconds_count", server="echo", tool="echo") == 2
    )
    calls = [Records.fields(record) for record in served.records.named("mcp.call")]
    assert [(c["server"], c["tool"], c["outcome"], c["client"]) for c in calls] == [
        ("echo", "echo", "ok", "-"),
        ("echo", "refuse", "tool_error", "-"),
        ("echo", "echo", "tool_error", "-"),
    ]
    assert all(isinstance(c["duration_ms"], float) and c["duration_ms"] >= 0 for c in calls)


@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_that_raises_is_a_generic_tool_error_logged_with_its_traceback(
    mode: str,
) -> None:
    async with serve_host() as served, Client(served.url(), mode=mode) as client:
        crashed = await client.call_tool("crash", {})
        assert crashed.is_error
        text = crashed.content[0].text  # type: ignore[union-attr]
        assert "failed inside the daemon" in text
        assert "the tool's own bug" not in text  # internals stay in the log
        # The session (or the server, stateless) goes on serving.
        assert (await client.call_tool("echo", {"text": "still here"})).content[0].text == (  # type: ignore[union-attr]
            "still here"
        )
    (record,) = served.records.named("mcp.tool_crashed")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "the tool's own bug"
    assert Records.fields(record) == {"server": "echo", "tool": "crash", "client": "-"}
    assert (
        served.metric("autosred_mcp_calls_total", server="echo", tool="crash", outcome="crashed")
        == 1
    )


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_tool_is_the_protocols_error(mode: str) -> None:
    async with serve_host() as served, Client(served.url(), mode=mode) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no_such_tool", {})
        assert raised.value.code == types.INVALID_PARAMS
        assert "Unknown tool: no_such_tool" in raised.value.message
        assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"  # type: ignore[union-attr]
    # The made-up name is logged, not made a metrics label.
    assert (
        served.metric("autosred_mcp_calls_total", server="echo", tool="-", outcome="unknown_tool")
        == 1
    )
    (record,) = served.records.named("mcp.call")[:1]
    assert Records.fields(record)["tool"] == "no_such_tool"


@pytest.mark.parametrize("mode", MODES)
async def test_the_clients_token_name_is_logged_with_each_call(mode: str) -> None:
    clients = [token_entry("laptop", "s3cret-laptop"), token_entry("ci", "s3cret-ci")]
    async with serve_host(clients=clients) as served:
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret-ci"})
        async with (
            http,
            Client(streamable_http_client(served.url(), http_client=http), mode=mode) as client,
        ):
            await client.call_tool("echo", {"text": "x"})
    (record,) = served.records.named("mcp.call")
    assert Records.fields(record)["client"] == "ci"


async def test_two_groups_are_two_servers() -> None:
    async with serve_host(groups=[EchoTools("one"), EchoTools("two")]) as served:
        for name in ("one", "two"):
            async with Client(served.url(name), mode="legacy") as client:
                assert client.server_info is not None
                assert client.server_info.name == f"autosred-{name}"
                await client.call_tool("echo", {"text": name})
        assert served.host.paths == ["/mcp/one", "/mcp/two"]
    for name in ("one", "two"):
        assert (
            served.metric("autosred_mcp_calls_total", server=name, tool="echo", outcome="ok") == 1
        )
