"""Replay every captured Claude Code request body through the mapper (tests/data/captures)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from autosred.proxy.anthropic import serialise, to_tokenize_request
from tests.proxy.anthropic.anth_helpers import (
    SIGNER,
    VIEW,
    capture_bodies,
    request,
)

TOP_LEVEL = {
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "reasoning_effort",
    "thinking_token_budget",
    "chat_template_kwargs",
    "stream",
    "stream_options",
    "continue_final_message",
    "add_generation_prompt",
}
MESSAGE_KEYS = {"role", "content", "reasoning", "tool_calls", "tool_call_id"}

CAPTURES = capture_bodies()
IDS = [name for name, _ in CAPTURES]


def _walk_keys(value: Any, path: str = "") -> list[str]:
    """Every dict key path outside tool schemas (which are forwarded verbatim)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "parameters" and path.endswith("function"):
                continue
            found.append(f"{path}.{key}")
            found.extend(_walk_keys(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for item in value:
            found.extend(_walk_keys(item, path))
    return found


def check_upstream(body: dict[str, Any]) -> None:
    assert set(body) <= TOP_LEVEL
    assert body["model"] == VIEW.served_model_name
    assert not [key for key in _walk_keys(body) if key.endswith("cache_control")]
    assert "x-anthropic-billing-header" not in json.dumps(body)
    messages = body["messages"]
    for index, message in enumerate(messages):
        assert set(message) <= MESSAGE_KEYS
        assert message["role"] in {"system", "user", "assistant", "tool"}
        assert message["role"] != "system" or index == 0, "one leading system message"
        if isinstance(message["content"], list):
            assert {part["type"] for part in message["content"]} <= {"text", "image_url"}
    check_tool_adjacency(messages)
    for tool in body.get("tools", []):
        assert set(tool) == {"type", "function"} and tool["type"] == "function"
        assert set(tool["function"]) <= {"name", "description", "parameters"}
        assert tool["function"]["parameters"].get("type") == "object"


def check_tool_adjacency(messages: list[dict[str, Any]]) -> None:
    """Each assistant tool_calls message is followed by exactly its tool messages, in order."""
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message["role"] == "tool":
            raise AssertionError(f"tool message {index - 1} does not follow its tool calls")
        calls = message.get("tool_calls")
        if not calls:
            continue
        ids = [call["id"] for call in calls]
        answers = messages[index : index + len(ids)]
        assert [m["role"] for m in answers] == ["tool"] * len(ids)
        assert [m["tool_call_id"] for m in answers] == ids
        index += len(ids)


def test_captures_are_present() -> None:
    assert len(CAPTURES) >= 5
    assert {name.split("/")[0] for name in IDS} >= {"01_plain.bodies", "05_tool_bash.bodies"}


@pytest.mark.parametrize(("name", "body"), CAPTURES, ids=IDS)
def test_capture_maps_cleanly(name: str, body: dict[str, Any]) -> None:
    req = request(body)
    check_upstream(req.body)
    assert json.loads(serialise(req)) == req.body
    assert req.client_model == body["model"]
    if body.get("stream"):
        assert req.body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in req.body  # the non-streaming retry (18_truncated_stream_once/003)
    count = {k: v for k, v in body.items() if k in {"model", "messages", "tools", "system"}}
    tokenize = to_tokenize_request(count, recipe_view=VIEW, signer=SIGNER)
    assert tokenize["messages"] == req.body["messages"]


@pytest.mark.parametrize(("name", "body"), CAPTURES, ids=IDS)
def test_capture_bytes_ignore_billing_header_and_cache_control(
    name: str, body: dict[str, Any]
) -> None:
    variant = copy.deepcopy(body)
    system = variant.get("system")
    if isinstance(system, list) and system and system[0]["text"].startswith("x-anthropic"):
        system[0]["text"] = "x-anthropic-billing-header: cc_version=9.9.9.fff; cc_entrypoint=cli;"
    _strip_cache_control(variant)
    assert serialise(request(variant)) == serialise(request(body))


def _strip_cache_control(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("cache_control", None)
        for item in value.values():
            _strip_cache_control(item)
    elif isinstance(value, list):
        for item in value:
            _strip_cache_control(item)


def test_capture_tool_loop_shape() -> None:
    body = dict(CAPTURES)["05_tool_bash.bodies/020_POST_v1_messages.json"]
    messages = request(body).body["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool"]
    assert messages[2]["content"] == "Let me list the files."
    assert messages[2]["tool_calls"][0]["function"] == {
        "name": "Bash",
        "arguments": '{"command": "ls /home/user/tmpdir-list", "description": "List files"}',
    }
    assert messages[3] == {
        "role": "tool",
        "tool_call_id": "toolu_1b0837896743456e93522494",
        "content": "alpha.txt\nbeta.py\ngamma.md",
    }


def test_capture_inline_system_of_unknown_models_is_folded() -> None:
    body = dict(CAPTURES)["08_model_gpt-4o.bodies/026_POST_v1_messages.json"]
    inline = body["messages"][1]
    assert inline["role"] == "system"
    out = request(body).body
    assert [m["role"] for m in out["messages"]] == ["system", "user"]
    assert out["messages"][1]["content"].endswith(inline["content"])
    assert out["reasoning_effort"] == "high"
    assert out["chat_template_kwargs"] == {"enable_thinking": True}


def test_capture_title_request() -> None:
    body = dict(CAPTURES)["05_tool_bash.bodies/018_POST_v1_messages.json"]
    out = request(body).body
    assert "tools" not in out and "response_format" not in out  # output_config.format dropped
    assert out["temperature"] == 1
    assert out["chat_template_kwargs"] == {"enable_thinking": False}
