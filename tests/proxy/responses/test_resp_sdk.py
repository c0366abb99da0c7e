"""Our SSE bytes and response JSON, read by the official ``openai`` SDK (docs/conformance.md,
cases 67, 68, 83).

The SDK talks HTTP to a ``MockTransport`` that serves the translator's real bytes: the double
sits at the HTTP edge only; everything the SDK parses is what the daemon would send. The SDK's
stream accumulator is strict (identity of items across added/done/completed, a
``response.created`` first, content events only for added items), which makes it a good
conformance check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from autosred.proxy.responses import Event, UpstreamError
from tests.proxy.chunks import chunk, tool_delta, usage_chunk
from tests.proxy.responses.resp_helpers import (
    ROLE_CHUNK,
    base,
    request,
    run,
    sse,
    translator,
)

APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"},
}
EXEC = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}


def _client(respond: Callable[[httpx.Request], httpx.Response]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="x",
        base_url="http://autosred.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(respond)),
        max_retries=0,
    )


def _final(events: list[Event]) -> Any:
    body = sse(events)

    def respond(http_request: httpx.Request) -> httpx.Response:
        assert http_request.url.path == "/v1/responses"
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    client = _client(respond)
    with client.responses.stream(model="gpt-5.5", input="go") as stream:
        seen = [item.type for item in stream]
        final = stream.get_final_response()
    assert seen[0] == "response.created"
    return final


def test_sdk_accumulates_a_text_stream() -> None:
    final = _final(
        run(
            [
                ROLE_CHUNK,
                chunk({"content": "Hello"}),
                chunk({"content": " world"}, finish="stop"),
                usage_chunk(12, 2),
            ]
        )
    )
    assert final.status == "completed" and final.output_text == "Hello world"
    assert final.id == "resp_test"
    assert final.usage.input_tokens == 12 and final.usage.output_tokens == 2
    assert final.usage.total_tokens == 14


def test_sdk_accumulates_reasoning_and_calls() -> None:
    req = request(base(tools=[EXEC, APPLY_PATCH], include=["reasoning.encrypted_content"]))
    arguments = json.dumps({"input": "*** Begin Patch\n*** End Patch\n"})
    final = _final(
        run(
            [
                ROLE_CHUNK,
                chunk({"reasoning": "Plan."}),
                chunk({"content": "Running."}),
                chunk(tool_delta(0, id="c1", name="exec_command", args='{"cmd":')),
                chunk(tool_delta(0, args='"ls"}')),
                chunk(tool_delta(1, id="c2", name="apply_patch", args=arguments)),
                chunk({}, finish="tool_calls"),
                usage_chunk(100, 20, reasoning=1),
            ],
            translator(req),
        )
    )
    kinds = [item.type for item in final.output]
    assert kinds == ["reasoning", "message", "function_call", "custom_tool_call"]
    reasoning, message, call, custom = final.output
    assert reasoning.summary[0].text == "Plan." and reasoning.encrypted_content
    assert message.content[0].text == "Running."
    assert call.call_id == "c1" and json.loads(call.arguments) == {"cmd": "ls"}
    assert custom.call_id == "c2" and custom.input == "*** Begin Patch\n*** End Patch\n"
    assert final.usage.output_tokens_details.reasoning_tokens == 1


def test_sdk_accepts_keepalive_in_progress_events() -> None:
    t = translator()
    events = t.keepalive() + t.keepalive() + t.keepalive()
    events += run([chunk({"content": "late"}, finish="stop")], t)
    assert [e.type for e in events[:4]] == [
        "response.created",
        "response.in_progress",
        "response.in_progress",
        "response.in_progress",
    ]
    assert _final(events).output_text == "late"


def test_sdk_sees_incomplete_and_failed_responses() -> None:
    incomplete = run([chunk({"content": "cut"}, finish="length")])
    body = sse(incomplete)

    def respond(http_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with _client(respond).responses.stream(model="m", input="x") as stream:
        last = [item for item in stream][-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"

    t = translator()
    failed = run([chunk({"content": "partial"})], t, close=False)
    failed += t.close(UpstreamError("closed"))
    with pytest.raises(RuntimeError, match=r"response\.completed"):
        _final(failed)


def test_sdk_reads_the_non_streaming_response() -> None:
    t = translator(request(base(tools=[EXEC])))
    run(
        [
            chunk({"content": "Calling."}),
            chunk(tool_delta(0, id="c9", name="exec_command", args='{"cmd": "pwd"}')),
            chunk({}, finish="tool_calls"),
            usage_chunk(7, 3),
        ],
        t,
    )
    payload = json.dumps(t.response()).encode()

    def respond(http_request: httpx.Request) -> httpx.Response:
        assert json.loads(http_request.content).get("stream") in (None, False)
        return httpx.Response(200, headers={"content-type": "application/json"}, content=payload)

    reply = _client(respond).responses.create(model="gpt-5.5", input="go")
    assert reply.status == "completed" and reply.output_text == "Calling."
    assert reply.output[1].type == "function_call" and reply.output[1].call_id == "c9"
    assert reply.usage is not None and reply.usage.total_tokens == 10
