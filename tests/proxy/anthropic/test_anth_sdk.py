"""Our SSE bytes and Message JSON, read by the official ``anthropic`` SDK (docs/conformance.md:
cases 15, 26, 39 and §7.2).

The SDK talks HTTP to a ``MockTransport`` that serves the translator's real bytes: the double
sits at the HTTP edge only; everything the SDK parses is what the daemon would send. (The pinned
SDK uses ``httpx2``, the httpx fork it now depends on, and refuses plain ``httpx`` clients.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2 as httpx
import pytest

from autosred.proxy.anthropic import (
    AnthropicError,
    Event,
    UpstreamError,
    message_from_completion,
    message_from_events,
)
from tests.proxy.anthropic.anth_helpers import (
    SIGNER,
    base,
    request,
    run,
    sse,
    translator,
)
from tests.proxy.chunks import chunk, tool_delta, usage, usage_chunk

# The model the SDK is asked for (a current name: the SDK warns about deprecated ones); the
# translator echoes its own client-facing name, which the assertions check.
SDK_MODEL = "claude-sonnet-5"

REASONING_TEXT_TOOL = [
    chunk({"role": "assistant", "content": ""}, usage=usage(1830, 0)),
    chunk({"reasoning": "Need to "}),
    chunk({"reasoning": "list files."}),
    chunk({"content": "Listing "}),
    chunk({"content": "files."}),
    chunk(tool_delta(0, id="chatcmpl-tool-1", name="Bash", args='{"command": ')),
    chunk(tool_delta(0, args='"ls"}')),
    chunk({}, finish="tool_calls"),
    usage_chunk(1830, 41),
]


def _client(respond: Callable[[httpx.Request], httpx.Response]) -> anthropic.Anthropic:
    transport = httpx.MockTransport(respond)
    return anthropic.Anthropic(
        api_key="x",
        base_url="http://autosred.test",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def _stream_client(events: list[Event]) -> anthropic.Anthropic:
    body = sse(events)

    def respond(http_request: httpx.Request) -> httpx.Response:
        assert http_request.url.path == "/v1/messages"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return _client(respond)


def _final(events: list[Event]) -> anthropic.types.Message:
    client = _stream_client(events)
    with client.messages.stream(
        model=SDK_MODEL, max_tokens=64, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        return stream.get_final_message()


def test_case_15_sdk_accumulates_the_stream() -> None:
    message = _final(run(REASONING_TEXT_TOOL))
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "tool_use"
    assert message.stop_sequence is None
    assert message.usage.input_tokens == 1830 and message.usage.output_tokens == 41
    thinking, text, tool = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Need to list files."
    assert SIGNER.verify(thinking.thinking, thinking.signature)
    assert text.type == "text" and text.text == "Listing files."
    assert tool.type == "tool_use" and tool.name == "Bash" and tool.input == {"command": "ls"}


def test_case_26_stream_and_non_stream_give_the_same_message() -> None:
    events = run(REASONING_TEXT_TOOL)
    streamed = _final(events)
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Listing files.",
                    "reasoning": "Need to list files.",
                    "tool_calls": [
                        {
                            "id": "chatcmpl-tool-1",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 1830, "completion_tokens": 41, "total_tokens": 1871},
    }
    built = message_from_completion(
        completion, model="claude-sonnet-4-5", signer=SIGNER, message_id=streamed.id
    )

    def respond(http_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=built)

    non_streamed = _client(respond).messages.create(
        model=SDK_MODEL, max_tokens=64, messages=[{"role": "user", "content": "go"}]
    )
    assert non_streamed.model_dump() == streamed.model_dump()
    # The accumulated events give the same JSON the non-streaming path sends.
    assert message_from_events(events) == built


def test_golden_7_2_next_turn_maps_back_to_the_upstream_ids() -> None:
    message = _final(run(REASONING_TEXT_TOOL))
    # Claude Code stores the final message and replays it verbatim in the next request.
    assistant = {
        "role": "assistant",
        "content": [block.model_dump(exclude_none=True) for block in message.content],
    }
    tool_id = message.content[2].id  # type: ignore[union-attr]
    body = base(
        messages=[
            {"role": "user", "content": "list the files"},
            assistant,
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tool_id, "content": "a.txt\nb.txt"},
                    {"type": "text", "text": "<system-reminder>…</system-reminder>"},
                ],
            },
        ]
    )
    assert request(body).body["messages"][-3:] == [
        {
            "role": "assistant",
            "content": "Listing files.",
            "reasoning": "Need to list files.",
            "tool_calls": [
                {
                    "id": "chatcmpl-tool-1",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "a.txt\nb.txt"},
        {"role": "user", "content": "<system-reminder>…</system-reminder>"},
    ]


@pytest.mark.parametrize(
    "chunks",
    [
        [chunk({"content": "Hello"}), chunk({"content": " world"}), chunk({}, finish="stop")],
        [chunk({"content": "x"}, finish="length", usage=usage(3, 1))],
        [
            chunk({"role": "assistant"}),
            chunk(tool_delta(0, id="a", name="A", args='{"x": ')),
            chunk(tool_delta(1, id="b", name="B", args='{"y": ')),
            chunk(tool_delta(0, args="1}")),
            chunk(tool_delta(1, args="2}")),
            chunk({"reasoning": "after"}),
            chunk({"content": "end"}),
            chunk({}, finish="stop", stop_reason="ZZ"),
            usage_chunk(9, 9),
        ],
        [chunk({"role": "assistant", "content": ""}), chunk({}, finish="stop"), usage_chunk(5, 0)],
    ],
)
def test_sdk_accepts_every_shape(chunks: list[dict[str, Any]]) -> None:
    events = run(chunks)
    message = _final(events)
    assert message.model_dump(exclude={"container", "stop_details"}, exclude_none=True) == {
        key: value for key, value in message_from_events(events).items() if value is not None
    } | {"usage": message.usage.model_dump(exclude_none=True)}


def test_sdk_raises_on_the_in_stream_error_event() -> None:
    t = translator()
    events = run([chunk({"content": "partial"})], t, close=False)
    events += t.close(UpstreamError("http", status=503, body="busy"))
    client = _stream_client(events)
    with (
        pytest.raises(anthropic.APIStatusError, match="busy"),
        client.messages.stream(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        ) as stream,
    ):
        stream.get_final_message()


def test_sdk_reads_the_error_envelope() -> None:
    error = AnthropicError.of_type("overloaded_error", "Overloaded")

    def respond(http_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            error.status,
            headers={"request-id": "req_abc"},
            content=error.to_json("req_abc"),
        )

    with pytest.raises(anthropic.APIStatusError) as info:
        _client(respond).messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 529
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_abc",
    }
    assert json.loads(error.to_json())["error"]["type"] == "overloaded_error"
