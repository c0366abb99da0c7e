"""Case 91: the helper request Claude Code 2.1.197 sends for its WebSearch tool, replayed
through the daemon as it was sent (streamed, ``?beta=true``, its headers; the SDK
accumulates).

The body is the one the daemon received in tests/claude/test_websearch.py (which also checks
that the pinned Claude Code still sends it): one user message "Perform a web search for the
query: Q", no tools of its own but ``{"type": "web_search_20250305", "name": "web_search",
"max_uses": 8}``, ``tool_choice`` forcing ``web_search``, thinking disabled. The simulated
model answers it as a model would: it calls ``web_search {"query": Q}``, then writes a text
once the results are back. Claude Code reads the answer's ``server_tool_use`` and
``web_search_tool_result`` blocks (their titles and URLs become WebSearch's result in its
main loop).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.proxy import captures
from tests.proxy.anthropic_http.support import Api
from tests.proxy.hosted_http.conftest import Web

pytestmark = [
    pytest.mark.asyncio(loop_scope="package"),
    # Claude Code sends the names it knows; the SDK would only warn about their age.
    pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning"),
]

CAPTURED = captures.capture_bodies("claude/hosted")
HELPER_TEXT_START = "Perform a web search for the query: "
HELPER_SYSTEM = "You are an assistant for performing a web search tool use"
ANSWER = "The search found two pages."
# The headers Claude Code sent that say who it is (the capture has them all); the token is
# this daemon's.
SENT_HEADERS = ("anthropic-beta", "anthropic-version", "x-app", "User-Agent")


def helper_body() -> dict[str, Any]:
    (body,) = [b for name, b in CAPTURED if name.startswith("21_websearch.bodies/")]
    return body


def query_of(body: dict[str, Any]) -> str:
    (message,) = body["messages"]
    (part,) = message["content"]
    text = part["text"]
    assert isinstance(text, str) and text.startswith(HELPER_TEXT_START), text
    return text.removeprefix(HELPER_TEXT_START)


def captured_headers() -> dict[str, str]:
    path = captures.CAPTURES_DIR / "claude" / "hosted"
    (record_path,) = path.glob("21_websearch.bodies/*.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    return {name: value for name, value in record["headers"] if name in SENT_HEADERS}


async def upstream_bodies(api: Api, request_id: str) -> list[dict[str, Any]]:
    """Every chat request the daemon sent the model for ``request_id``, in order."""
    bodies = []
    for record in await api.sim_records(path="/v1/chat/completions"):
        headers = {name.lower(): value for name, value in record["headers"].items()}
        if headers.get("x-request-id") == request_id:
            bodies.append(record["body"])
    return bodies


async def test_claude_codes_websearch_helper_request_is_answered_with_the_blocks(
    api: Api, web_sites: Web
) -> None:
    captured = helper_body()
    query = query_of(captured)
    # The captured text carries no #sim directive: a match spec answers it, as a model would
    # (scripted on the awake sim).
    code, lines = await api.daemon.admin(
        "POST", "/v1/models/sim/scale", {"direction": "up", "wait": True}
    )
    assert code == 200 and lines[-1].get("ok"), lines
    await api.set_script(
        [
            {
                "match": "^" + HELPER_TEXT_START,
                "tool_calls": [{"name": "web_search", "arguments": {"query": query}}],
                "then": [{"text": ANSWER}],
            }
        ]
    )
    try:
        streamed = await api.stream(dict(captured), **captured_headers())
    finally:
        await api.set_script([])
    assert streamed.status == 200, streamed.raw[:500]
    message = streamed.message
    assert message is not None, streamed.error
    assert message.model == captured["model"]

    # What Claude Code reads: the search as a server_tool_use, its results, the model's text.
    assert [block.type for block in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    use, results, text = message.content
    assert use.type == "server_tool_use" and use.name == "web_search"
    assert use.id.startswith("srvtoolu_") and use.input == {"query": query}
    assert results.type == "web_search_tool_result" and results.tool_use_id == use.id
    assert isinstance(results.content, list)
    expected = [(hit["url"], hit["title"]) for hit in web_sites.searxng.results]
    assert [(hit.url, hit.title) for hit in results.content] == expected
    assert text.type == "text" and text.text == ANSWER
    assert message.stop_reason == "end_turn"
    assert message.usage.server_tool_use is not None
    assert message.usage.server_tool_use.web_search_requests == 1
    # The query was streamed into the server_tool_use block (Claude Code shows it as it comes).
    start = streamed.named("content_block_start")[0].data["content_block"]
    assert start["type"] == "server_tool_use" and start["input"] == {}
    assert streamed.named("content_block_delta")[0].data["delta"]["type"] == "input_json_delta"
    assert web_sites.searxng.queries[-1]["q"] == query

    # The model was offered the hosted tool as a function, the only one, forced in the first
    # round as Claude Code asked, free in the second (which has the search and its results).
    first, second = await upstream_bodies(api, streamed.request_id)
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].endswith(HELPER_SYSTEM)
    assert "x-anthropic-billing-header" not in first["messages"][0]["content"]
    (function,) = first["tools"]
    assert function["type"] == "function" and function["function"]["name"] == "web_search"
    assert function["function"]["parameters"]["required"] == ["query"]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "web_search"}}
    assert second["tool_choice"] == "auto"
    call, answer = second["messages"][-2:]
    assert call["tool_calls"][0]["function"]["name"] == "web_search"
    assert answer["role"] == "tool" and answer["tool_call_id"] == call["tool_calls"][0]["id"]
    for url, title in expected:
        assert url in answer["content"] and title in answer["content"]
