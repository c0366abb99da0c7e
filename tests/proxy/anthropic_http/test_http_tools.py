"""Checklist C of docs/conformance.md (cases 27-40): tools, through the real daemon and
autosred-sim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.proxy.anthropic_http.support import Api, assert_error_envelope, body, sim

pytestmark = pytest.mark.asyncio(loop_scope="package")

BASH = {
    "name": "Bash",
    "description": "Run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}


def tool_use(tool_id: str, name: str = "Bash", **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def tool_result(tool_id: str, content: Any = None, **fields: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_id, **fields}
    if content is not None:
        block["content"] = content
    return block


async def sent_messages(api: Api, payload: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await api.message(payload)
    assert reply.status == 200, reply.text
    messages: list[dict[str, Any]] = (await api.upstream_body(reply.request_id))["messages"]
    return messages


async def test_case_27_tools_become_function_tools_without_extra_keys(api: Api) -> None:
    tools = [
        {
            **BASH,
            "cache_control": {"type": "ephemeral"},
            "defer_loading": True,
            "input_examples": [{"command": "ls"}],
            "strict": True,
            "eager_input_streaming": True,
        },
        {"name": "NoType", "input_schema": {"properties": {"x": {"type": "integer"}}}},
    ]
    reply = await api.message(body(tools=tools))
    assert reply.status == 200, reply.text
    sent = await api.upstream_body(reply.request_id)
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "Bash",
                "description": "Run a command",
                "parameters": BASH["input_schema"],
            },
        },
        {
            "type": "function",
            "function": {
                "name": "NoType",
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
            },
        },
    ]
    assert sent["tool_choice"] == "auto"


async def test_case_28_server_tools_removed_and_forcing_one_is_a_400(api: Api) -> None:
    server_tools = [
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        {"type": "bash_20250124", "name": "bash"},
    ]
    reply = await api.message(body(tools=[BASH, *server_tools]))
    assert reply.status == 200
    sent = await api.upstream_body(reply.request_id)
    assert [t["function"]["name"] for t in sent["tools"]] == ["Bash"]
    forced = body(tools=[BASH, *server_tools], tool_choice={"type": "tool", "name": "web_search"})
    error = assert_error_envelope(await api.message(forced), 400, "invalid_request_error")
    assert "web_search" in error["message"] and "not supported" in error["message"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "Bash"}, {"type": "function", "function": {"name": "Bash"}}),
        (None, "auto"),
    ],
)
async def test_case_29_tool_choice(api: Api, choice: dict[str, Any] | None, expected: Any) -> None:
    payload = body(tools=[BASH]) if choice is None else body(tools=[BASH], tool_choice=choice)
    reply = await api.message(payload)
    assert reply.status == 200
    assert (await api.upstream_body(reply.request_id))["tool_choice"] == expected


async def test_case_30_disable_parallel_tool_use(api: Api) -> None:
    spec = {
        "tool_calls": [
            {"name": "Bash", "arguments": {"command": "one"}},
            {"name": "Bash", "arguments": {"command": "two"}},
        ]
    }
    payload = body(
        content=sim(**spec),
        tools=[BASH],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
    )
    reply = await api.message(payload)
    assert (await api.upstream_body(reply.request_id))["parallel_tool_calls"] is False
    uses = [block for block in reply.json["content"] if block["type"] == "tool_use"]
    assert [use["input"] for use in uses] == [{"command": "one"}]
    streamed = await api.stream(payload)
    assert streamed.message is not None
    assert [b.type for b in streamed.message.content] == ["tool_use"]


async def test_case_31_assistant_tool_uses_become_one_message(api: Api) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Running two."},
                tool_use("T1", command="ls"),
                tool_use("T2", command="pwd"),
            ],
        },
        {"role": "user", "content": [tool_result("T1", "a"), tool_result("T2", "b")]},
    ]
    sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
    assert sent[1] == {
        "role": "assistant",
        "content": "Running two.",
        "tool_calls": [
            {
                "id": "T1",
                "type": "function",
                "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
            },
            {
                "id": "T2",
                "type": "function",
                "function": {"name": "Bash", "arguments": '{"command": "pwd"}'},
            },
        ],
    }


async def test_case_32_tool_results_then_the_user_text(api: Api) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [tool_use("T1", command="ls"), tool_use("T2", command="pwd")],
        },
        {
            "role": "user",
            "content": [
                tool_result("T1", "a.txt", cache_control={"type": "ephemeral"}),
                tool_result("T2", "/home"),
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
            ],
        },
    ]
    sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": "T1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "T2", "content": "/home"},
        {"role": "user", "content": "<system-reminder>x</system-reminder>"},
    ]


async def test_case_33_tool_result_text_blocks_joined(api: Api) -> None:
    content = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [tool_use("T1", command="ls")]},
        {"role": "user", "content": [tool_result("T1", content)]},
    ]
    sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
    assert sent[2] == {"role": "tool", "tool_call_id": "T1", "content": "a\nb"}


async def test_case_34_no_content_and_is_error(api: Api) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [tool_use("T1", command="x"), tool_use("T2", command="y")],
        },
        {
            "role": "user",
            "content": [tool_result("T1"), tool_result("T2", "command not found", is_error=True)],
        },
    ]
    sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
    assert sent[2] == {"role": "tool", "tool_call_id": "T1", "content": ""}
    assert sent[3] == {"role": "tool", "tool_call_id": "T2", "content": "Error: command not found"}


@pytest.mark.parametrize("chunk_size", [1, 4, 64])
async def test_case_35_and_36_streamed_arguments_are_complete(api: Api, chunk_size: int) -> None:
    arguments = {"command": "ls -la /tmp", "description": "List files"}
    spec = {"tool_calls": [{"name": "Bash", "arguments": arguments}], "chunk_size": chunk_size}
    streamed = await api.stream(body(content=sim(**spec), tools=[BASH]))
    [block] = streamed.blocks
    assert block["type"] == "tool_use" and block["name"] == "Bash" and block["input"] == {}
    # Every fragment is relayed (the first included): the join is vLLM's argument string.
    assert block["partial_json"] == json.dumps(arguments)
    assert len(streamed.named("content_block_delta")) >= 2
    assert streamed.message is not None
    assert streamed.message.content[0].type == "tool_use"
    assert streamed.message.content[0].input == arguments


async def test_case_37_two_tool_calls_two_blocks(api: Api) -> None:
    spec = {
        "tool_calls": [
            {"name": "Bash", "arguments": {"command": "one"}},
            {"name": "Bash", "arguments": {"command": "two"}},
        ]
    }
    streamed = await api.stream(body(content=sim(**spec), tools=[BASH]))
    assert [b["partial_json"] for b in streamed.blocks] == [
        '{"command": "one"}',
        '{"command": "two"}',
    ]
    assert streamed.message is not None
    assert [b.input for b in streamed.message.content if b.type == "tool_use"] == [
        {"command": "one"},
        {"command": "two"},
    ]


async def test_case_38_broken_arguments_never_fail(api: Api) -> None:
    # Truncated by max_tokens mid-arguments: the block still closes, stop_reason max_tokens.
    spec = {"tool_calls": [{"name": "Bash", "arguments": {"command": "x" * 40}}], "chunk_size": 4}
    streamed = await api.stream(body(content=sim(**spec), tools=[BASH], max_tokens=4))
    assert streamed.named("content_block_stop")
    assert streamed.named("message_delta")[0].data["delta"]["stop_reason"] == "max_tokens"
    for arguments, expected in (
        ('{"command": "unterminated', {}),
        (json.dumps(json.dumps({"command": "ls"})), {"command": "ls"}),  # double-encoded
        ("[1, 2]", {}),
    ):
        spec = {"tool_calls": [{"name": "Bash", "arguments": arguments}]}
        reply = await api.message(body(content=sim(**spec), tools=[BASH]))
        assert reply.status == 200, reply.text
        assert reply.json["content"][0]["input"] == expected


async def test_case_39_tool_ids_round_trip_to_the_upstream_id(api: Api) -> None:
    for upstream_id in ("functions.Bash:0", "chatcmpl-tool-abc123"):
        spec = {"tool_calls": [{"name": "Bash", "arguments": {"command": "ls"}, "id": upstream_id}]}
        first = await api.message(body(content=sim(**spec), tools=[BASH]))
        use = first.json["content"][0]
        assert use["id"].startswith("toolu_")
        assert all(c.isalnum() or c in "_-" for c in use["id"])
        messages = [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [tool_result(use["id"], "a.txt")]},
        ]
        sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
        assert sent[1]["tool_calls"][0]["id"] == upstream_id
        assert sent[2] == {"role": "tool", "tool_call_id": upstream_id, "content": "a.txt"}


async def test_case_40_dangling_tool_use_gets_a_placeholder(api: Api) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [tool_use("T1", command="sleep 100")]},
        {"role": "user", "content": "never mind, do something else"},
    ]
    sent = await sent_messages(api, body(messages=messages, tools=[BASH]))
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "T1"
    assert sent[2]["content"]
    assert sent[3] == {"role": "user", "content": "never mind, do something else"}
