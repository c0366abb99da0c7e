"""What every /mcp request passes first (autosred/mcp/host/guard.py), on a real socket:
Host (421) and Origin (403) against DNS rebinding, client tokens (401 with
WWW-Authenticate), the body cap (413), then the server name (404) and the method (405)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from mcp import Client

from autosred.config import McpSettings
from tests.mcp.host.support import Served, serve_host, token_entry

ACCEPT = "application/json, text/event-stream"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "guard-test", "version": "0"},
    },
}


async def initialize(
    served: Served, *, path: str = "/mcp/echo", method: str = "POST", **headers: str
) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session:
        async with session.request(
            method,
            served.base + path,
            data=json.dumps(INITIALIZE),
            headers={"Accept": ACCEPT, "Content-Type": "application/json", **headers},
        ) as response:
            text = await response.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return response.status, dict(response.headers), body


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "[::1]:{port}"]
)
async def test_the_listeners_own_names_are_served(host: str) -> None:
    async with serve_host() as served:
        status, _, body = await initialize(served, Host=host.format(port=served.port))
        assert status == 200, body


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example:{port}",  # a rebinding page's own name
        "127.0.0.1.nip.io:{port}",
        "localhost:{other}",  # another port is another origin
        "localhost",
        "",
        "localhost:{port}:1",
        "[::1:{port}",
    ],
)
async def test_a_foreign_host_is_misdirected(host: str) -> None:
    async with serve_host() as served:
        value = host.format(port=served.port, other=served.port + 1)
        status, _, body = await initialize(served, Host=value)
        assert status == 421, body
        assert body["error"]["message"].startswith("This MCP server answers only")
        assert served.metric("autosred_mcp_refused_total", reason="host") == 1
        assert served.records.named("mcp.call") == []


async def test_a_request_without_host_is_misdirected() -> None:
    async with serve_host() as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        body = json.dumps(INITIALIZE).encode()
        writer.write(
            b"POST /mcp/echo HTTP/1.0\r\nContent-Type: application/json\r\n"
            b"Accept: " + ACCEPT.encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"421"


async def test_an_allowed_name_and_a_forwarded_port() -> None:
    settings = McpSettings(allowed_hosts=["gpu-box.lan", "localhost:9999"])
    async with serve_host(settings=settings) as served:
        for host in (f"gpu-box.lan:{served.port}", "localhost:9999"):
            status, _, body = await initialize(served, Host=host)
            assert status == 200, (host, body)
        status, _, _ = await initialize(served, Host="gpu-box.lan:9999")
        assert status == 421


@pytest.mark.parametrize(
    "origin", ["http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}"]
)
async def test_a_page_of_the_listener_itself_may_call(origin: str) -> None:
    async with serve_host() as served:
        status, _, body = await initialize(served, Origin=origin.format(port=served.port))
        assert status == 200, body


@pytest.mark.parametrize(
    "origin",
    [
        "http://attacker.example",
        "http://attacker.example:{port}",
        "http://localhost:{other}",  # another local web app
        "https://localhost",  # port 443
        "null",  # a sandboxed frame or a file:// page
        "chrome-extension://abcdefghijklmnop",
        "http://localhost:{port}/",
    ],
)
async def test_a_foreign_origin_is_forbidden(origin: str) -> None:
    async with serve_host() as served:
        value = origin.format(port=served.port, other=served.port + 1)
        status, _, body = await initialize(served, Origin=value)
        assert status == 403, body
        assert "another origin" in body["error"]["message"]
        assert served.metric("autosred_mcp_refused_total", reason="origin") == 1


async def test_tokens_apply_to_mcp_as_to_the_model_apis() -> None:
    clients = [token_entry("laptop", "tok-laptop")]
    async with serve_host(clients=clients) as served:
        status, headers, body = await initialize(served)
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="autosred"'
        assert "client token" in body["error"]["message"]

        for offered in ({"Authorization": "Bearer wrong"}, {"x-api-key": "wrong"}):
            status, headers, _ = await initialize(served, **offered)
            assert status == 401
            assert headers["WWW-Authenticate"] == 'Bearer realm="autosred", error="invalid_token"'

        for offered in (
            {"Authorization": "Bearer tok-laptop"},
            {"Authorization": "bearer  tok-laptop "},
            {"x-api-key": "tok-laptop"},
        ):
            status, _, body = await initialize(served, **offered)
            assert status == 200, (offered, body)
        assert served.metric("autosred_mcp_refused_total", reason="token") == 3

        # The server name is told only to a client with a token.
        status, _, body = await initialize(served, path="/mcp/secret-names")
        assert status == 401


async def test_the_sdk_client_without_a_token_shows_why() -> None:
    clients = [token_entry("laptop", "tok-laptop")]
    async with serve_host(clients=clients) as served:
        # The SDK raises the refusal's JSON-RPC error (inside its task groups' exception
        # groups), so the user reads the sentence.
        with pytest.raises(BaseException) as raised:
            async with Client(served.url(), mode="legacy") as client:
                await client.list_tools()
        assert "missing or invalid client token" in repr(raised.value)


async def test_a_body_over_the_cap_is_refused_before_it_is_read() -> None:
    settings = McpSettings(max_body_bytes=2048)
    async with serve_host(settings=settings) as served:
        call = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x" * 4096}},
        }
        async with aiohttp.ClientSession() as session:
            async with session.post(
                served.url(),
                data=json.dumps(call),
                headers={"Accept": ACCEPT, "Content-Type": "application/json"},
            ) as response:
                assert response.status == 413
                assert "2048 bytes" in (await response.json())["error"]["message"]

            async def chunked() -> Any:
                payload = json.dumps(call).encode()
                for start in range(0, len(payload), 512):
                    yield payload[start : start + 512]

            async with session.post(
                served.url(),
                data=chunked(),
                headers={"Accept": ACCEPT, "Content-Type": "application/json"},
            ) as response:
                assert response.status == 413
        assert served.metric("autosred_mcp_refused_total", reason="too_large") == 2
        # Just under the cap is served.
        status, _, body = await initialize(served)
        assert status == 200, body


async def test_unknown_server_and_methods() -> None:
    async with serve_host() as served:
        status, _, body = await initialize(served, path="/mcp/nothing")
        assert status == 404
        assert "served here: /mcp/echo" in body["error"]["message"]
        status, _, _ = await initialize(served, path="/mcp")
        assert status == 404
        status, _, _ = await initialize(served, path="/mcp/echo/")
        assert status == 404

        for method in ("GET", "PUT"):
            status, headers, body = await initialize(served, method=method)
            assert status == 405
            assert headers["Allow"] == "POST, DELETE"
        # The GET for a stream is a question the protocol lets a client ask; PUT is refused.
        assert served.metric("autosred_mcp_refused_total", reason="method") == 1


async def test_other_paths_pass_through_untouched() -> None:
    async with serve_host(clients=[token_entry("x", "y")]) as served:
        async with aiohttp.ClientSession() as session:
            async with session.get(
                served.base + "/other", headers={"Host": "elsewhere", "Origin": "null"}
            ) as response:
                assert response.status == 200
                assert await response.text() == "not mcp"
            async with session.get(served.base + "/mcpx") as response:
                assert response.status == 404
        assert served.metric("autosred_mcp_refused_total", reason="host") == 0


async def test_a_session_serves_only_the_client_that_opened_it() -> None:
    clients = [token_entry("laptop", "tok-laptop"), token_entry("ci", "tok-ci")]
    async with serve_host(clients=clients) as served:
        status, headers, _ = await initialize(served, Authorization="Bearer tok-laptop")
        assert status == 200
        session = {
            "Mcp-Session-Id": headers["mcp-session-id"],
            "MCP-Protocol-Version": "2025-11-25",
        }
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}

        async def list_tools(token: str) -> int:
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    served.url(),
                    data=json.dumps(listing),
                    headers={
                        "Accept": ACCEPT,
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {token}",
                        **session,
                    },
                ) as response:
                    await response.read()
                    return response.status

        assert await list_tools("tok-ci") == 404  # as if there were no such session
        assert await list_tools("tok-laptop") == 200


async def test_an_ipv6_loopback_listener_answers_to_its_loopback_names() -> None:
    async with serve_host(bind="::1") as served:
        for host in ("[::1]:{port}", "localhost:{port}", "127.0.0.1:{port}"):
            status, _, body = await initialize(served, Host=host.format(port=served.port))
            assert status == 200, (host, body)
        status, _, _ = await initialize(served, Host=f"attacker.example:{served.port}")
        assert status == 421
