"""The MCP host in the real daemon (a subprocess on its own config): the servers the
config enables are served at /mcp/<name> on the api listener (and its codex bind), each
listing its tools to the official SDK client; the guard applies there; everything else on
the listener is unchanged; a stop ends the sessions and closes the groups."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from autosred.config import McpSettings
from autosred.mcp.groups import build_groups
from tests.support.daemon import Daemon, base_config, metric_value, running_daemon, sim_recipe

ACCEPT = "application/json, text/event-stream"
TOKEN = "mcp-daemon-test-token"
ALL_OFF = {"fetch": {"enabled": False}, "search": {"enabled": False}}
ALL_OFF_WITH_CAPS = {**ALL_OFF, "capabilities": {"enabled": False}}


async def expected_paths() -> list[str]:
    """What build_groups makes of the default mcp section (the groups built and closed here)."""
    groups = build_groups(McpSettings(), admin_socket=None)
    try:
        return [f"/mcp/{group.name}" for group in groups]
    finally:
        for group in groups:
            await group.close()


def served_paths(daemon: Daemon) -> list[str]:
    (event,) = daemon.events_named("mcp.servers")
    paths: list[str] = event["paths"]
    return paths


async def raw_initialize(url: str, **headers: str) -> tuple[int, dict[str, str], Any]:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "daemon-test", "version": "0"},
        },
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url,
            data=json.dumps(message),
            headers={"Accept": ACCEPT, "Content-Type": "application/json", **headers},
        ) as response:
            text = await response.text()
            return response.status, dict(response.headers), json.loads(text) if text else None


async def test_every_enabled_server_lists_its_tools_on_both_binds(tmp_path: Path) -> None:
    expected = await expected_paths()
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        assert served_paths(daemon) == expected
        for base in (daemon.api_url, daemon.codex_url):
            for path in expected:
                for mode in ("legacy", "2026-07-28"):
                    async with Client(base + path, mode=mode) as client:
                        tools = (await client.list_tools()).tools
                        assert tools, f"{path} lists no tools"
                        assert client.server_info is None or (
                            client.server_info.name == "autosred-" + path.rsplit("/", 1)[1]
                        )
        status, _, body = await raw_initialize(daemon.api_url + "/mcp/no-such-server")
        assert status == 404
        served = ", ".join(expected) or "none (all disabled in the mcp section)"
        assert body["error"]["message"].endswith(f"served here: {served}.")


async def test_a_disabled_server_is_not_served(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()], mcp=ALL_OFF_WITH_CAPS)
    async with running_daemon(tmp_path, config) as daemon:
        assert served_paths(daemon) == []
        for name in ("fetch", "search", "capabilities"):
            status, _, _ = await raw_initialize(f"{daemon.api_url}/mcp/{name}")
            assert status == 404


async def test_the_guard_on_the_daemons_listener(tmp_path: Path) -> None:
    async with running_daemon(tmp_path, base_config(tmp_path, [sim_recipe()])) as daemon:
        url = daemon.api_url + "/mcp/fetch"
        port = daemon.api_url.rsplit(":", 1)[1]
        status, _, _ = await raw_initialize(url, Host=f"attacker.example:{port}")
        assert status == 421
        status, _, _ = await raw_initialize(url, Origin="http://attacker.example")
        assert status == 403
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_mcp_refused_total", reason="host") == 1
        assert metric_value(metrics, "autosred_mcp_refused_total", reason="origin") == 1
        # The model APIs do not check Host or Origin (unchanged).
        async with aiohttp.ClientSession() as session:
            async with session.get(
                daemon.api_url + "/v1/models", headers={"Host": "attacker.example"}
            ) as response:
                assert response.status == 200


async def test_tokens_guard_mcp_and_the_model_apis_alike(tmp_path: Path) -> None:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    config = base_config(
        tmp_path,
        [sim_recipe()],
        api={"listen": "127.0.0.1:0", "clients": [{"name": "laptop", "token_sha256": digest}]},
    )
    async with running_daemon(tmp_path, config) as daemon:
        url = daemon.api_url + "/mcp/fetch"
        status, headers, body = await raw_initialize(url)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="autosred"'
        assert body["error"]["message"].startswith("missing or invalid client token")
        # The proxy's own 401 is what it was (its envelope, no challenge).
        async with aiohttp.ClientSession() as session:
            async with session.get(daemon.api_url + "/v1/models") as response:
                assert response.status == 401
                assert (await response.json())["error"]["type"] == "authentication_error"
            async with session.get(
                daemon.api_url + "/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response:
                assert response.status == 200
        for path in served_paths(daemon):
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
            async with (
                http,
                Client(
                    streamable_http_client(daemon.api_url + path, http_client=http), mode="legacy"
                ) as client,
            ):
                assert (await client.list_tools()).tools


@pytest.mark.parametrize("mcp", [{}, ALL_OFF_WITH_CAPS], ids=["default", "none"])
async def test_a_stop_ends_the_sessions_and_closes_the_groups(
    tmp_path: Path, mcp: dict[str, Any]
) -> None:
    config = base_config(tmp_path, [sim_recipe()], mcp=mcp)
    async with running_daemon(tmp_path, config) as daemon:
        paths = served_paths(daemon)
        sessions = []
        for path in paths:
            status, headers, body = await raw_initialize(daemon.api_url + path)
            assert status == 200, body
            sessions.append(headers["mcp-session-id"])
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait_exit() == 0
        (stopped,) = daemon.events_named("mcp.stopped")
        assert stopped["servers"] == [path.rsplit("/", 1)[1] for path in paths]
        assert daemon.events_named("mcp.group_close_failed") == []
        assert daemon.events_named("mcp.host_stop_failed") == []
        # Open sessions do not hold the stop: the drain had nothing of theirs to wait for.
        (draining,) = daemon.events_named("daemon.draining")
        assert draining["requests"] == 0


async def test_a_reload_names_an_mcp_change_as_needing_a_restart(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        before = served_paths(daemon)
        changed = base_config(tmp_path, [sim_recipe()], mcp=ALL_OFF_WITH_CAPS)
        daemon.config_path.write_text(yaml.safe_dump(changed))
        status, result = await daemon.admin("POST", "/v1/reload")
        assert status == 200, result
        assert "mcp: changed; takes effect after a restart" in result["messages"]
        # Still served as started.
        for path in before:
            status, _, body = await raw_initialize(daemon.api_url + path)
            assert status == 200, body


async def test_a_call_outliving_the_grace_is_told_the_daemon_is_stopping(tmp_path: Path) -> None:
    """A fetch of a site that never answers, in flight at SIGTERM: at the end of the grace
    the drain ends it, and the client gets the JSON-RPC error, not a cut connection."""
    arrived = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        held.append(writer)  # answered never; closed by the test
        arrived.set()

    site = await asyncio.start_server(silent_site, "127.0.0.1", 0)
    port = site.sockets[0].getsockname()[1]
    config = base_config(
        tmp_path,
        [sim_recipe()],
        shutdown={"grace": 1},
        mcp={"fetch": {"allow": ["127.0.0.1"], "robots": False, "timeout": 60}},
    )
    try:
        async with running_daemon(tmp_path, config) as daemon:
            url = daemon.api_url + "/mcp/fetch"
            call = {
                "jsonrpc": "2.0",
                "id": 42,
                "method": "tools/call",
                "params": {
                    "name": "fetch",
                    "arguments": {"url": f"http://127.0.0.1:{port}/slow"},
                    "_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                    },
                },
            }
            async with aiohttp.ClientSession() as session:
                pending = asyncio.create_task(
                    session.post(
                        url,
                        data=json.dumps(call),
                        headers={
                            "Accept": ACCEPT,
                            "Content-Type": "application/json",
                            "MCP-Protocol-Version": "2026-07-28",
                            "Mcp-Method": "tools/call",
                            "Mcp-Name": "fetch",
                        },
                    )
                )
                async with asyncio.timeout(30):
                    await arrived.wait()
                daemon.signal(signal.SIGTERM)
                response = await pending
                assert response.status == 503
                assert await response.json() == {
                    "jsonrpc": "2.0",
                    "id": 42,
                    "error": {
                        "code": -32603,
                        "message": "The daemon is stopping; call again once it is back.",
                    },
                }
                response.release()
            assert await daemon.wait_exit() == 0
            (cancelled,) = daemon.events_named("daemon.requests_cancelled")
            assert cancelled["count"] == 1
    finally:
        for writer in held:
            writer.close()
        site.close()
        await site.wait_closed()
