"""Hostile input at the host: a thousand requests drawn by hypothesis (bytes, JSON,
JSON-RPC with any method, id, params and tool arguments, any protocol-version, session,
content-type and accept headers) against one host on a real socket. No answer may be a 5xx,
nothing may crash (no ``mcp.host_crashed``, no error logged by the SDK), and the host must
still serve a plain call at the end."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from hypothesis import strategies as st
from mcp import Client

from tests.hardening.fuzz_cases import drawn
from tests.mcp.host.support import Records, serve_host

CASES = 1000
TOOLS = ["echo", "refuse", "crash", "nope", ""]  # "wait" would wait for the test
VERSIONS = [None, "2025-06-18", "2025-11-25", "2026-07-28", "2024-11-05", "1999-01-01", "x"]
METHODS = [
    "initialize",
    "tools/list",
    "tools/call",
    "ping",
    "notifications/initialized",
    "server/discover",
    "resources/list",
    "",
    "tools/call/x",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def messages(draw: st.DrawFn) -> Any:
    method = draw(st.sampled_from(METHODS) | st.text(max_size=12))
    params: dict[str, Any] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    if method == "tools/call" and draw(st.booleans()):
        params["name"] = draw(st.sampled_from(TOOLS) | json_values)
        params["arguments"] = draw(st.fixed_dictionaries({"text": json_values}) | json_values)
    if draw(st.booleans()):
        params["_meta"] = draw(
            st.fixed_dictionaries(
                {
                    "io.modelcontextprotocol/protocolVersion": st.sampled_from(VERSIONS[1:])
                    | json_values,
                    "io.modelcontextprotocol/clientCapabilities": json_values,
                }
            )
        )
    if method == "initialize" and draw(st.booleans()):
        params.update(
            protocolVersion=draw(st.sampled_from(VERSIONS[1:]) | json_values),
            capabilities={},
            clientInfo={"name": "fuzz", "version": "0"},
        )
    message: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "1.0", None]))}
    message["method"] = method
    if draw(st.booleans()):
        message["id"] = draw(st.integers() | st.text(max_size=8) | json_values)
    if draw(st.booleans()):
        message["params"] = params
    return draw(st.sampled_from([message, [message], [message, message]]))


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    kind = draw(st.sampled_from(["bytes", "json", "message", "message", "message"]))
    if kind == "bytes":
        body = draw(st.binary(max_size=200))
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    else:
        body = json.dumps(draw(messages())).encode()
    headers: dict[str, str] = {}
    version = draw(st.sampled_from(VERSIONS))
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    headers["Content-Type"] = draw(
        st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1"])
    )
    headers["Accept"] = draw(
        st.sampled_from(
            ["application/json, text/event-stream", "application/json", "text/event-stream", "*/*"]
        )
    )
    session = draw(st.sampled_from(["", "known", "0" * 32, "x\u00e9"]))
    if session:
        headers["Mcp-Session-Id"] = session
    for name in ("Mcp-Method", "Mcp-Name"):
        if draw(st.booleans()):
            headers[name] = draw(st.sampled_from(METHODS + TOOLS))
    method = draw(st.sampled_from(["POST", "POST", "POST", "DELETE"]))
    return method, body, headers


async def test_hostile_requests_get_client_errors_and_the_host_keeps_serving() -> None:
    sdk_records = Records()
    sdk_logger = logging.getLogger("mcp")
    sdk_logger.addHandler(sdk_records)
    try:
        async with serve_host() as served, aiohttp.ClientSession() as session:
            # A real session, so that the "known" session id reaches the session's transport.
            async with session.post(
                served.url(),
                json={
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "fuzz", "version": "0"},
                    },
                },
                headers={"Accept": "application/json, text/event-stream"},
            ) as response:
                assert response.status == 200
                known = response.headers["mcp-session-id"]
            statuses: dict[int, int] = {}
            failures = []
            for index, (method, body, headers) in enumerate(drawn(cases(), CASES)):
                if headers.get("Mcp-Session-Id") == "known":
                    headers["Mcp-Session-Id"] = known
                if method == "DELETE" and headers.get("Mcp-Session-Id") == known:
                    continue  # ending the one real session would only shorten the run
                async with session.request(
                    method, served.url(), data=body, headers=headers
                ) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if response.status >= 500:
                        failures.append((index, method, body[:200], headers, response.status))
            assert not failures, failures[:5]
            assert sum(statuses.values()) > CASES // 2, statuses
            async with Client(served.url(), mode="legacy") as client:
                result = await client.call_tool("echo", {"text": "after the fuzz"})
                assert result.content[0].text == "after the fuzz"  # type: ignore[union-attr]
        # Some got as far as the tools (well-formed calls in the known session, 2026-07-28).
        assert served.records.named("mcp.call"), statuses
        assert served.records.named("mcp.host_crashed") == []
        errors = [r for r in sdk_records.records if r.levelno >= logging.ERROR]
        assert errors == [], [r.getMessage() for r in errors[:5]]
    finally:
        sdk_logger.removeHandler(sdk_records)
