"""Real Codex CLI 0.169.0 request bodies (tests/data/captures/codex) through the request mapper.

Invariants rather than goldens: every capture maps; one leading system message carries the
developer prompts in order; function tools go up (apply_patch converted, Codex's client-run
tool_search as the function ``tool_search``, web_search skipped); Codex's bookkeeping never
reaches vLLM; a later turn of the same thread renders the earlier turn's messages byte for
byte (prefix caching); the tool loop maps to one assistant message with the call followed by
its tool message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from autosred.proxy.responses import serialise
from tests.proxy.responses.resp_helpers import capture_bodies, request

CAPTURES = capture_bodies()
_BOOKKEEPING = (
    "input",
    "include",
    "store",
    "prompt_cache_key",
    "client_metadata",
    "text",
    "reasoning",
    "parallel_tool_calls",
)


def _by_name(suffix: str) -> dict[str, Any]:
    for name, body in CAPTURES:
        if name.endswith(suffix):
            return body
    raise AssertionError(f"no capture {suffix}")


@pytest.mark.parametrize(("name", "body"), CAPTURES, ids=[name for name, _ in CAPTURES])
def test_every_capture_maps_with_its_invariants(name: str, body: dict[str, Any]) -> None:
    req = request(body)
    sent = req.body
    assert req.stream is True and req.store is False and req.include_encrypted
    messages = sent["messages"]
    assert messages[0]["role"] == "system"
    assert all(message["role"] != "system" for message in messages[1:])
    assert all(message["role"] in ("system", "user", "assistant", "tool") for message in messages)
    developer = [
        "\n".join(part["text"] for part in item["content"])
        for item in body["input"]
        if item.get("role") == "developer"
    ]
    assert messages[0]["content"] == "\n\n".join(developer)
    client_tools = {
        tool.get("name") for tool in body["tools"] if tool["type"] in ("function", "custom")
    }
    client_tools.add("tool_search")  # every capture's tool_search runs in Codex itself
    assert {tool["function"]["name"] for tool in sent["tools"]} == client_tools
    assert "apply_patch" in client_tools
    assert set(req.skipped_tools) == {"web_search"}
    assert sent["tool_choice"] == "auto" and "parallel_tool_calls" not in sent
    assert sent["reasoning_effort"] == "medium"
    for key in _BOOKKEEPING:
        assert key not in sent, key
    assert sent["stream_options"] == {"include_usage": True}
    # Serialisable and deterministic.
    assert json.loads(serialise(req)) == sent
    assert serialise(request(body)) == serialise(req)


def test_the_tool_loop_turn_maps_to_a_call_and_its_output() -> None:
    body = _by_name("004_POST_v1_responses.json")
    messages = request(body).body["messages"]
    call = next(item for item in body["input"] if item["type"] == "function_call")
    output = next(item for item in body["input"] if item["type"] == "function_call_output")
    assert messages[-2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call["call_id"],
                "type": "function",
                "function": {"name": "exec_command", "arguments": call["arguments"]},
            }
        ],
    }
    assert messages[-1] == {
        "role": "tool",
        "tool_call_id": output["call_id"],
        "content": output["output"],
    }


def test_a_later_turn_keeps_the_earlier_prompt_as_its_prefix() -> None:
    first = request(_by_name("003_POST_v1_responses.json")).body["messages"]
    second = request(_by_name("004_POST_v1_responses.json")).body["messages"]
    assert second[: len(first)] == first
    dumps = json.dumps
    assert dumps(second, ensure_ascii=False).startswith(dumps(first, ensure_ascii=False)[:-1])


def test_gpt5_namespace_tools_are_flattened() -> None:
    body = dict(_by_name("002_POST_v1_responses.json"))
    body["tools"] = [
        *body["tools"],
        {
            "type": "namespace",
            "name": "multi_agent_v1",
            "description": "Sub-agents.",
            "tools": [
                {
                    "type": "function",
                    "name": "spawn_agent",
                    "strict": False,
                    "parameters": {"type": "object", "properties": {"task": {"type": "string"}}},
                },
                {"type": "function", "name": "wait", "strict": False, "parameters": None},
            ],
        },
    ]
    req = request(body)
    names = [tool["function"]["name"] for tool in req.body["tools"]]
    assert names[-2:] == ["multi_agent_v1__spawn_agent", "multi_agent_v1__wait"]
    target = req.tools["multi_agent_v1__spawn_agent"]
    assert (target.kind, target.name, target.namespace) == (
        "function",
        "spawn_agent",
        "multi_agent_v1",
    )
