"""Non-streaming Message from a vLLM chat.completion.

docs/conformance.md, cases 1, 10, 13, 14, 30, 38, 44.
"""

from __future__ import annotations

from typing import Any

import pytest

from autosred.proxy.anthropic import client_tool_id, message_from_completion, message_from_events
from autosred.proxy.anthropic.events import Event
from tests.proxy.anthropic.anth_helpers import MODEL, SIGNER


def completion(
    message: dict[str, Any],
    *,
    finish: str = "stop",
    stop_reason: object = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "qwen3-8b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", **message},
                "finish_reason": finish,
                "stop_reason": stop_reason,
            }
        ],
        "usage": usage or {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def build(body: object, **kwargs: Any) -> dict[str, Any]:
    return message_from_completion(
        body, model=MODEL, signer=SIGNER, message_id="msg_test", **kwargs
    )


def test_case_01_non_streaming_message_shape() -> None:
    assert build(completion({"content": "Hello!"})) == {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 3,
        },
    }


def test_case_09_stop_sequence_in_non_streaming() -> None:
    message = build(completion({"content": "abc"}, stop_reason="ZZ"))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "ZZ")
    # A stop token id (int) is an ordinary end of turn.
    assert build(completion({"content": "abc"}, stop_reason=151645))["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "end_turn"),  # claims tools but produced none: no tool_use block
        ("function_call", "end_turn"),
        ("content_filter", "refusal"),
        ("brand_new", "end_turn"),
    ],
)
def test_case_10_finish_reason_map(finish: str, expected: str) -> None:
    assert build(completion({"content": "x"}, finish=finish))["stop_reason"] == expected


CALL = {
    "id": "chatcmpl-tool-9",
    "type": "function",
    "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
}


@pytest.mark.parametrize("finish", ["tool_calls", "function_call", "stop"])
def test_case_10_tool_use_whenever_a_tool_block_exists(finish: str) -> None:
    message = build(completion({"content": None, "tool_calls": [CALL]}, finish=finish))
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {
            "type": "tool_use",
            "id": client_tool_id("chatcmpl-tool-9"),
            "name": "Bash",
            "input": {"command": "ls"},
        }
    ]
    truncated = build(completion({"tool_calls": [CALL]}, finish="length"))
    assert truncated["stop_reason"] == "max_tokens"


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_case_13_and_44_reasoning_first_with_signature(field: str) -> None:
    message = build(
        completion(
            {field: "Think.", "content": "Answer.", "tool_calls": [CALL]}, finish="tool_calls"
        )
    )
    kinds = [block["type"] for block in message["content"]]
    assert kinds == ["thinking", "text", "tool_use"]
    thinking = message["content"][0]
    assert thinking["thinking"] == "Think."
    assert thinking["signature"] and SIGNER.verify("Think.", thinking["signature"])


@pytest.mark.parametrize("content", ["", None, "\n\n", "  "])
def test_case_14_empty_content_gives_no_text_block(content: str | None) -> None:
    assert build(completion({"content": content}))["content"] == []
    with_tool = build(completion({"content": content, "tool_calls": [CALL]}))
    assert [block["type"] for block in with_tool["content"]] == ["tool_use"]


def test_case_30_only_the_first_call_when_parallel_is_disabled() -> None:
    second = {**CALL, "id": "chatcmpl-tool-10"}
    message = build(completion({"tool_calls": [CALL, second]}), single_tool_call=True)
    assert len(message["content"]) == 1
    assert len(build(completion({"tool_calls": [CALL, second]}))["content"]) == 2


@pytest.mark.parametrize(
    ("arguments", "expected", "ok"),
    [
        ('{"a": 1}', {"a": 1}, True),
        ('"{\\"a\\": 1}"', {"a": 1}, True),  # double-encoded
        ("", {}, True),
        (None, {}, True),
        ('{"a": ', {}, False),  # truncated
        ("[1, 2]", {}, False),  # not an object
        ("42", {}, False),
        ({"a": 2}, {"a": 2}, True),
        (17, {}, False),
    ],
)
def test_case_38_tool_arguments_never_raise(arguments: object, expected: object, ok: bool) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    anomalies: list[str] = []
    message = build(completion({"tool_calls": [call]}), anomalies=anomalies)
    assert message["content"][0]["input"] == expected
    assert (not anomalies) == ok


def test_missing_tool_id_is_generated_and_stable() -> None:
    call = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    first = build(completion({"tool_calls": [call]}))["content"][0]["id"]
    second = build(completion({"tool_calls": [call]}))["content"][0]["id"]
    assert first == second and first.startswith("toolu_")


def test_cached_prompt_tokens_are_cache_reads() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 5,
        "total_tokens": 105,
        "prompt_tokens_details": {"cached_tokens": 64},
    }
    assert build(completion({"content": "x"}, usage=usage))["usage"] == {
        "input_tokens": 36,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 64,
        "output_tokens": 5,
    }


@pytest.mark.parametrize(
    "body",
    [None, {}, {"choices": []}, {"choices": [None]}, {"choices": [{"message": "x"}]}, []],
)
def test_garbage_completion_never_raises(body: object) -> None:
    message = build(body)
    assert message["content"] == [] and message["stop_sequence"] is None


def test_message_from_events_refuses_truncated_or_failed_streams() -> None:
    start = Event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_x",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "m",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 0},
            },
        },
    )
    with pytest.raises(ValueError, match="before message_stop"):
        message_from_events([start])
    error = Event("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})
    with pytest.raises(ValueError, match="boom"):
        message_from_events([start, error])


def test_case_44_non_streaming_thinking_block_comes_first_and_is_signed() -> None:
    message = build(completion({"content": "Answer.", "reasoning": "Because."}))
    assert message["content"][0] == {
        "type": "thinking",
        "thinking": "Because.",
        "signature": SIGNER.sign("Because."),
    }
    assert message["content"][1] == {"type": "text", "text": "Answer."}
