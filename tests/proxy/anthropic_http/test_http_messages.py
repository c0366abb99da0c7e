"""Checklist A and B of docs/conformance.md (cases 1-26): /v1/messages through the real daemon
and autosred-sim.

Each test checks what the client got and what the sim received. Streamed requests go through
the official SDK's ``messages.stream(...).get_final_message()`` while the same bytes are parsed
and checked frame by frame (support.Api.stream).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.proxy.anthropic_http.conftest import SIM_CONTEXT
from tests.proxy.anthropic_http.support import (
    ANTHROPIC_HEADERS,
    MODEL,
    TOKEN,
    Api,
    assert_grammar,
    body,
    parse_sse,
    sim,
)

pytestmark = pytest.mark.asyncio(loop_scope="package")

# ------------------------------------------------------------------------------ A. non-streaming


async def test_case_01_minimal_request(api: Api) -> None:
    reply = await api.message(body(content=sim(text="Hello from the sim")))
    assert reply.status == 200, reply.text
    message = reply.json
    assert set(message) == {
        "id",
        "type",
        "role",
        "model",
        "content",
        "stop_reason",
        "stop_sequence",
        "usage",
    }
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert message["content"] == [{"type": "text", "text": "Hello from the sim"}]
    assert message["stop_reason"] == "end_turn"
    assert "stop_sequence" in message and message["stop_sequence"] is None
    record = await api.upstream(reply.request_id)
    assert message["usage"] == {
        "input_tokens": record["prompt_tokens"],
        "output_tokens": record["chunks_sent"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    sent = record["body"]
    assert sent["model"] == "sim-served"
    assert sent["messages"] == [{"role": "user", "content": sim(text="Hello from the sim")}]
    assert sent["max_tokens"] == 64


async def test_case_02_system_string(api: Api) -> None:
    reply = await api.message(body(system="Be brief."))
    assert reply.status == 200
    messages = (await api.upstream_body(reply.request_id))["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in messages].count("system") == 1


async def test_case_03_system_blocks_joined_without_cache_control(api: Api) -> None:
    system = [
        {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "B"},
    ]
    reply = await api.message(body(system=system))
    assert reply.status == 200
    sent = await api.upstream_body(reply.request_id)
    assert sent["messages"][0] == {"role": "system", "content": "A\nB"}
    assert "cache_control" not in json.dumps(sent)


async def test_case_04_billing_header_removed_prompts_identical(api: Api) -> None:
    bodies = []
    for suffix in ("1c0", "363"):
        billing = f"x-anthropic-billing-header: cc_version=2.1.197.{suffix}; cc_entrypoint=cli;"
        system = [
            {"type": "text", "text": billing},
            {
                "type": "text",
                "text": "You are Claude Code.",
                "cache_control": {"type": "ephemeral"},
            },
        ]
        reply = await api.message(body(system=system))
        assert reply.status == 200
        bodies.append(await api.upstream(reply.request_id))
    assert bodies[0]["body"] == bodies[1]["body"]
    assert bodies[0]["prompt_tokens"] == bodies[1]["prompt_tokens"]
    assert "billing" not in json.dumps(bodies[0]["body"])


async def test_case_05_inline_system_and_ctx_roles(api: Api) -> None:
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}
    messages = [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": [tool_use]},
        {"role": "system", "content": "reminder: be careful"},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a"}],
        },
        {"role": "ctx", "content": "context turn"},
        {"role": "msg", "content": "message turn"},
    ]
    reply = await api.message(body(messages=messages))
    assert reply.status == 200, reply.text
    sent = (await api.upstream_body(reply.request_id))["messages"]
    roles = [m["role"] for m in sent]
    assert "ctx" not in roles and "msg" not in roles
    assert roles.count("system") == 0  # no system prompt; no system turn left mid-conversation
    call = roles.index("assistant")
    assert sent[call + 1] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "a\nreminder: be careful",
    }
    assert "context turn" in json.dumps(sent[call + 2 :])


async def test_case_06_unknown_fields_ignored_never_forwarded(api: Api) -> None:
    extra = {
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
        "service_tier": "auto",
        "container": "c1",
        "mcp_servers": [{"type": "url", "url": "http://x", "name": "x"}],
        "metadata": {"user_id": json.dumps({"device_id": "d", "session_id": "s"})},
    }
    reply = await api.message(body(**extra))
    assert reply.status == 200, reply.text
    sent = await api.upstream_body(reply.request_id)
    assert not set(extra) & set(sent)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/messages", {}),
        ("/v1/messages?beta=true", ANTHROPIC_HEADERS),
        (
            "/v1/messages?beta=true",
            {**ANTHROPIC_HEADERS, "anthropic-beta": "claude-code-20250219,some-future-beta-2027"},
        ),
        ("/v1/messages?beta=false&x=1", {"anthropic-beta": "interleaved-thinking-2025-05-14"}),
    ],
)
async def test_case_07_beta_query_and_headers_change_nothing(
    api: Api, path: str, headers: dict[str, str]
) -> None:
    reply = await api.post(path, body(content=sim(text="same")), headers=api.headers(**headers))
    assert reply.status == 200, reply.text
    assert reply.json["content"] == [{"type": "text", "text": "same"}]
    sent = await api.upstream_body(reply.request_id)
    assert sent == {
        "model": "sim-served",
        "messages": [{"role": "user", "content": sim(text="same")}],
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": TOKEN},
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": "Bearer tok456", "x-api-key": TOKEN},  # Claude Code may send both
    ],
    ids=["x-api-key", "bearer", "both"],
)
async def test_case_08_either_auth_header_is_accepted(api: Api, headers: dict[str, str]) -> None:
    reply = await api.message(body(), headers={"Content-Type": "application/json", **headers})
    assert reply.status == 200, reply.text


async def test_case_09_stop_sequences(api: Api) -> None:
    payload = body(content=sim(text="one two ZZ three"), stop_sequences=["ZZ"])
    reply = await api.message(payload)
    assert reply.status == 200
    assert reply.json["stop_reason"] == "stop_sequence"
    assert reply.json["stop_sequence"] == "ZZ"
    assert reply.json["content"] == [{"type": "text", "text": "one two "}]
    assert (await api.upstream_body(reply.request_id))["stop"] == ["ZZ"]
    streamed = await api.stream(payload)
    assert streamed.message is not None
    assert streamed.message.stop_reason == "stop_sequence"
    assert streamed.message.stop_sequence == "ZZ"


@pytest.mark.parametrize(
    ("spec", "stop_reason"),
    [
        ({"text": "done", "finish_reason": "stop"}, "end_turn"),
        ({"text": "cut short", "finish_reason": "length"}, "max_tokens"),
        ({"text": "no", "finish_reason": "content_filter"}, "refusal"),
        ({"tool_calls": [{"name": "Bash", "arguments": {"command": "ls"}}]}, "tool_use"),
        # A named tool_choice finishes with "stop" though a call was made.
        (
            {"tool_calls": [{"name": "Bash", "arguments": {}}], "finish_reason": "stop"},
            "tool_use",
        ),
    ],
)
async def test_case_10_finish_reason_map(api: Api, spec: dict[str, Any], stop_reason: str) -> None:
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    payload = body(content=sim(**spec), tools=tools)
    reply = await api.message(payload)
    assert reply.status == 200, reply.text
    assert reply.json["stop_reason"] == stop_reason
    streamed = await api.stream(payload)
    assert streamed.message is not None and streamed.message.stop_reason == stop_reason


async def test_case_11_sampling_passed_and_max_tokens_clamped(api: Api) -> None:
    payload = body(
        temperature=0.3,
        top_p=0.9,
        top_k=40,
        max_tokens=1_000_000,
        metadata={"user_id": '{"device_id":"x","session_id":"y"}'},
    )
    # Other tests on this daemon may have read (or cleared the sim's record of) /v1/models
    # before: only the reads this test causes are counted.
    reads_before = None
    for _ in range(2):
        reply = await api.message(payload)
        assert reply.status == 200, reply.text
        record = await api.upstream(reply.request_id)
        sent = record["body"]
        assert (sent["temperature"], sent["top_p"], sent["top_k"]) == (0.3, 0.9, 40)
        # The context comes from the server's /v1/models; the prompt from /tokenize.
        assert sent["max_tokens"] == SIM_CONTEXT - record["prompt_tokens"]
        assert "metadata" not in sent
        reads = len(await api.sim_records(path="/v1/models"))
        # The context length was read once for this server, not per request.
        assert reads_before is None or reads == reads_before
        reads_before = reads


@pytest.mark.parametrize(
    "model", ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-8"]
)
async def test_case_12_claude_names_map_to_the_served_model(api: Api, model: str) -> None:
    reply = await api.message(body(model=model))
    assert reply.status == 200
    assert reply.json["model"] == model
    assert (await api.upstream_body(reply.request_id))["model"] == "sim-served"


async def test_case_13_reasoning_text_tools_in_order(api: Api) -> None:
    spec = {
        "reasoning": "Need to list files.",
        "text": "Listing files.",
        "tool_calls": [{"name": "Bash", "arguments": {"command": "ls"}}],
    }
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    reply = await api.message(body(content=sim(**spec), tools=tools))
    assert reply.status == 200
    content = reply.json["content"]
    assert [block["type"] for block in content] == ["thinking", "text", "tool_use"]
    assert content[0]["thinking"] == "Need to list files."
    assert content[0]["signature"]
    assert content[2]["input"] == {"command": "ls"}


async def test_case_14_empty_output_gives_no_blocks(api: Api) -> None:
    reply = await api.message(body(content=sim(text="   ")))
    assert reply.status == 200
    assert reply.json["content"] == []
    streamed = await api.stream(body(content=sim(text="   ")))
    assert streamed.named("content_block_start") == []
    assert streamed.message is not None and streamed.message.content == []


# ------------------------------------------------------------------------------ B. streaming


async def test_case_15_exact_grammar_headers_and_sdk(api: Api) -> None:
    streamed = await api.stream(body(content=sim(text="Hello, streaming world")))
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.headers["cache-control"] == "no-cache"
    assert streamed.request_id.startswith("req_")
    assert b"[DONE]" not in streamed.raw
    assert streamed.frames[0].event == "message_start"
    assert streamed.frames[1].event == "ping"
    assert streamed.frames[-1].event == "message_stop"
    assert streamed.message is not None
    assert streamed.message.content[0].type == "text"
    assert streamed.message.content[0].text == "Hello, streaming world"


async def test_case_16_message_start_has_a_prompt_size_and_message_delta_the_real_one(
    api: Api,
) -> None:
    streamed = await api.stream(body(content=sim(text="count my prompt")))
    record = await api.upstream(streamed.request_id)
    start = streamed.frames[0].data["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["stop_sequence"] is None
    usage = start["usage"]
    assert set(usage) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    # Not counted (it fits): the estimate, which errs high and is never zero (litellm#24176).
    assert usage["input_tokens"] >= record["prompt_tokens"] > 0
    assert (usage["output_tokens"], usage["cache_creation_input_tokens"]) == (0, 0)
    assert usage["cache_read_input_tokens"] == 0
    delta = streamed.named("message_delta")[0].data["usage"]
    assert delta["input_tokens"] == record["prompt_tokens"]
    assert streamed.message is not None
    assert streamed.message.usage.input_tokens == record["prompt_tokens"]
    # Usage once, at the end: per-chunk usage costs the model server 20-30% (BENCHMARKS.md).
    assert record["body"]["stream_options"] == {"include_usage": True}


async def test_case_17_indices_and_one_open_block(api: Api) -> None:
    spec = {
        "reasoning": "plan",
        "text": "doing it",
        "tool_calls": [
            {"name": "Read", "arguments": {"path": "a"}},
            {"name": "Read", "arguments": {"path": "b"}},
        ],
    }
    tools = [{"name": "Read", "input_schema": {"type": "object"}}]
    streamed = await api.stream(body(content=sim(**spec), tools=tools))
    starts = streamed.named("content_block_start")
    assert [f.data["index"] for f in starts] == [0, 1, 2, 3]
    assert [f.data["content_block"]["type"] for f in starts] == [
        "thinking",
        "text",
        "tool_use",
        "tool_use",
    ]
    assert_grammar(streamed.frames)  # also checked inside api.stream


async def test_case_18_role_chunk_and_empty_deltas_make_no_events(api: Api) -> None:
    streamed = await api.stream(body(content=sim(text="abc")))
    deltas = streamed.named("content_block_delta")
    assert all(f.data["delta"]["text"] for f in deltas)
    # The sim's first chunk is role-only with content "": the first event after
    # message_start/ping is the text block, and it carries text at once.
    assert [f.event for f in streamed.frames[:4]] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
    ]


async def test_case_19_no_content_is_dropped(api: Api) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    streamed = await api.stream(body(content=sim(text=text, chunk_size=3)))
    assert streamed.blocks == [{"type": "text", "text": text}]


async def test_case_20_one_message_delta_with_the_final_usage(api: Api) -> None:
    streamed = await api.stream(body(content=sim(text="final usage please")))
    record = await api.upstream(streamed.request_id)
    [delta] = streamed.named("message_delta")
    assert delta.data["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta.data["usage"] == {
        "input_tokens": record["prompt_tokens"],
        "output_tokens": record["chunks_sent"],
    }
    assert streamed.frames[-1].event == "message_stop"
    assert streamed.message is not None
    assert streamed.message.usage.output_tokens == record["chunks_sent"]


async def test_case_21_finish_without_usage_chunk_still_ends(api: Api) -> None:
    # 3 text chunks, the last carrying finish_reason; then the sim hangs up: no usage chunk,
    # no [DONE].
    streamed = await api.stream(body(content=sim(text="abcdefghij", chunk_size=4, drop_after=3)))
    assert streamed.error is None
    assert [f.event for f in streamed.frames[-2:]] == ["message_delta", "message_stop"]
    assert streamed.message is not None
    assert streamed.message.content[0].type == "text"
    assert streamed.message.content[0].text == "abcdefghij"
    assert streamed.message.stop_reason == "end_turn"


async def test_case_22_drop_before_finish_is_an_error_not_end_turn(api: Api) -> None:
    streamed = await api.stream(body(content=sim(text="a" * 40, chunk_size=4, drop_after=3)))
    assert streamed.named("message_delta") == []
    assert streamed.frames[-1].event == "error"
    assert streamed.frames[-1].data["error"]["type"] == "api_error"
    assert streamed.frames[-1].data["request_id"] == streamed.request_id
    assert streamed.message is None and streamed.error is not None


async def test_case_23_client_disconnect_aborts_upstream(api: Api) -> None:
    payload = body(content=sim(text="slow " * 200, tokens_per_second=20), stream=True)
    async with api.session.post(
        api.url + "/v1/messages", data=json.dumps(payload), headers=api.headers()
    ) as response:
        assert response.status == 200
        request_id = response.headers["request-id"]
        seen = b""
        while b"content_block_delta" not in seen:
            seen += await response.content.readany()
        response.close()  # hang up mid-stream
    record = await api.wait_upstream_status(request_id, "aborted", timeout=3)
    assert record["chunks_sent"] < 200
    await asyncio.sleep(0.1)
    log = api.daemon.log_path.read_text()
    assert "Traceback" not in log


async def test_case_24_pings_during_a_long_prefill(api: Api) -> None:
    # No upstream chunk for 1 s (the sim's delay is after the 200 headers, like prefill); the
    # daemon answers message_start at once and pings every 0.3 s (scaler.keepalive_interval).
    streamed = await api.stream(body(content=sim(text="after prefill", delay=1.0)))
    events = [f.event for f in streamed.frames]
    first_block = events.index("content_block_start")
    assert events[0] == "message_start"
    assert events[1:first_block].count("ping") >= 3
    record = await api.upstream(streamed.request_id)
    # message_start's count is an estimate (errs high); message_delta corrects it.
    assert streamed.frames[0].data["message"]["usage"]["input_tokens"] >= record["prompt_tokens"]
    assert (
        streamed.named("message_delta")[0].data["usage"]["input_tokens"] == record["prompt_tokens"]
    )
    assert streamed.message is not None
    assert streamed.message.usage.input_tokens == record["prompt_tokens"]


async def test_case_25_content_and_finish_in_one_chunk(api: Api) -> None:
    # The sim's last piece carries finish_reason: its text comes first, then the block stop.
    streamed = await api.stream(body(content=sim(text="abcdef", chunk_size=3)))
    events = [f.event for f in streamed.frames]
    assert events[-5:] == [
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert streamed.frames[-4].data["delta"]["text"] == "def"


async def test_case_26_stream_and_non_stream_give_the_same_blocks(api: Api) -> None:
    spec = {
        "reasoning": "think first",
        "text": "then answer",
        "tool_calls": [{"name": "Bash", "arguments": {"command": "ls -la"}, "id": "call_fixed"}],
    }
    payload = body(
        content=sim(**spec), tools=[{"name": "Bash", "input_schema": {"type": "object"}}]
    )
    reply = await api.message(payload)
    streamed = await api.stream(payload)
    assert streamed.message is not None
    from_stream = [block.model_dump(exclude_none=True) for block in streamed.message.content]
    for block in from_stream:
        block.pop("parsed_output", None)
    assert from_stream == reply.json["content"]


async def test_raw_stream_without_the_sdk_is_the_same_grammar(api: Api) -> None:
    payload = body(content=sim(text="raw"), stream=True)
    reply = await api.message(payload)
    frames, comments = parse_sse(reply.text.encode())
    assert_grammar(frames)
    assert comments == []
