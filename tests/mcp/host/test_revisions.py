"""Each protocol revision as its clients send it, in raw HTTP (what the bytes must be, not
what one SDK happens to accept): the 2025-06-18 and 2025-11-25 handshake with a session
(initialize, notifications/initialized, tools/list, tools/call, DELETE), and the 2026-07-28
single exchange (no handshake, no session; the envelope in ``params._meta`` and the
``Mcp-Method``/``Mcp-Name`` headers)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.mcp.host.support import serve_host

ACCEPT = "application/json, text/event-stream"


async def post(
    session: aiohttp.ClientSession, url: str, message: dict[str, Any], **headers: str
) -> tuple[int, dict[str, str], Any]:
    async with session.post(
        url,
        data=json.dumps(message),
        headers={"Accept": ACCEPT, "Content-Type": "application/json", **headers},
    ) as response:
        text = await response.text()
        body = json.loads(text) if text else None
        return response.status, dict(response.headers), body


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_handshake_revision_with_a_session(version: str) -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        url = served.url()
        status, headers, body = await post(
            session,
            url,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "0"},
                },
            },
        )
        assert status == 200, body
        assert headers["Content-Type"].startswith("application/json")
        assert body["id"] == 1
        assert body["result"]["protocolVersion"] == version
        assert body["result"]["serverInfo"]["name"] == "autosred-echo"
        assert "tools" in body["result"]["capabilities"]
        session_id = headers["mcp-session-id"]
        follow = {"Mcp-Session-Id": session_id, "MCP-Protocol-Version": version}

        status, _, body = await post(
            session, url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, **follow
        )
        assert status == 202

        status, _, body = await post(
            session, url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, **follow
        )
        assert status == 200
        assert [tool["name"] for tool in body["result"]["tools"]] == [
            "echo",
            "refuse",
            "crash",
            "wait",
        ]
        echo = body["result"]["tools"][0]
        assert echo["annotations"]["readOnlyHint"] is True
        assert echo["inputSchema"]["required"] == ["text"]

        call = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": version}},
        }
        status, _, body = await post(session, url, call, **follow)
        assert status == 200
        assert body == {
            "jsonrpc": "2.0",
            "id": 3,
            "result": {"content": [{"type": "text", "text": version}], "isError": False},
        }

        status, _, body = await post(
            session,
            url,
            {**call, "id": 4, "params": {"name": "nope", "arguments": {}}},
            **follow,
        )
        assert status == 200
        assert body["error"]["code"] == -32602
        assert "Unknown tool: nope" in body["error"]["message"]

        async with session.delete(url, headers=follow) as response:
            assert response.status == 200
        # The session is over: its id is unknown now.
        status, _, body = await post(session, url, {**call, "id": 5}, **follow)
        assert status == 404


async def test_a_request_without_a_session_is_refused_by_the_handshake_revisions() -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        status, _, body = await post(
            session,
            served.url(),
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            **{"MCP-Protocol-Version": "2025-11-25"},
        )
        assert status == 400
        assert body["error"]["code"] == -32600


def modern(method: str, params: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": method,
        "params": {
            **params,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "raw-test", "version": "0"},
            },
        },
    }


async def test_2026_07_28_single_exchange() -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        url = served.url()
        status, headers, body = await post(
            session,
            url,
            modern("tools/list", {}),
            **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"},
        )
        assert status == 200, body
        assert "mcp-session-id" not in {name.lower() for name in headers}
        assert [tool["name"] for tool in body["result"]["tools"]][:1] == ["echo"]

        status, _, body = await post(
            session,
            url,
            modern("tools/call", {"name": "echo", "arguments": {"text": "modern"}}, 2),
            **{
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": "echo",
            },
        )
        assert status == 200, body
        assert body["id"] == 2
        assert body["result"]["content"] == [{"type": "text", "text": "modern"}]
        assert body["result"]["isError"] is False

        status, _, body = await post(
            session,
            url,
            modern("tools/call", {"name": "crash", "arguments": {}}, 3),
            **{
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": "crash",
            },
        )
        assert status == 200
        assert body["result"]["isError"] is True


async def test_2026_07_28_headers_that_disagree_with_the_body_are_refused() -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        status, _, body = await post(
            session,
            served.url(),
            modern("tools/call", {"name": "echo", "arguments": {"text": "x"}}),
            **{
                "MCP-Protocol-Version": "2026-07-28",
                "Mcp-Method": "tools/call",
                "Mcp-Name": "crash",
            },
        )
        assert status == 400
        assert "Mcp-Name" in body["error"]["message"] or "name" in body["error"]["message"]
    assert served.records.named("mcp.call") == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'"x"',
        b'{"jsonrpc": "2.0"}',
        b"\xff\xfe",
        b'{"jsonrpc":"2.0","id":1}',
        b"[" * 100_000,  # deeper than any parser's recursion limit
    ],
    ids=lambda body: repr(body[:24]),
)
async def test_bodies_that_are_no_message_get_a_client_error(body: bytes) -> None:
    async with serve_host() as served, aiohttp.ClientSession() as session:
        async with session.post(
            served.url(),
            data=body,
            headers={"Accept": ACCEPT, "Content-Type": "application/json"},
        ) as response:
            assert 400 <= response.status < 500
            await response.read()
        # Still serving.
        status, _, _ = await post(
            session,
            served.url(),
            modern("tools/list", {}),
            **{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"},
        )
        assert status == 200
    assert served.records.named("mcp.host_crashed") == []
