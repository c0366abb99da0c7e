"""Chat completions through real clients: the openai SDK and raw aiohttp SSE."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai

from autosred.sim import SimConfig, SimHandle, running_sim

from .helpers import MODEL, directive, sse_events, user


async def _collect(oai: openai.AsyncOpenAI, **kwargs: Any) -> tuple[str, list[Any]]:
    stream = await oai.chat.completions.create(model=MODEL, stream=True, **kwargs)
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


async def test_default_reply_streams_in_chunks_of_four(oai: openai.AsyncOpenAI) -> None:
    text, chunks = await _collect(oai, messages=user("What is the capital of France?"))

    assert text == "Simulated reply to: What is the capital of France?"
    first = chunks[0].choices[0]
    assert first.delta.role == "assistant"
    assert first.delta.content == ""
    contents = [c.choices[0].delta.content for c in chunks[1:]]
    assert all(len(part) <= 4 for part in contents)
    assert len(contents) == -(-len(text) // 4)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert chunks[0].id.startswith("chatcmpl-")
    assert {c.id for c in chunks} == {chunks[0].id}
    assert {c.model for c in chunks} == {MODEL}
    assert chunks[0].object == "chat.completion.chunk"


async def test_text_spec_and_chunk_size(oai: openai.AsyncOpenAI) -> None:
    text, chunks = await _collect(oai, messages=user(directive(text="abcdefghij", chunk_size=3)))
    assert text == "abcdefghij"
    assert [c.choices[0].delta.content for c in chunks[1:]] == ["abc", "def", "ghi", "j"]


async def test_exact_chunk_count_for_benchmarks(oai: openai.AsyncOpenAI) -> None:
    text, chunks = await _collect(oai, messages=user(directive(text="xy", chunks=7)))
    content_chunks = [c for c in chunks[1:] if c.choices[0].delta.content]
    assert len(content_chunks) == 7
    assert text == "xyxyxyxy"  # repeated until it can fill 7 chunks


async def test_reasoning_streams_before_text_as_delta_reasoning(
    oai: openai.AsyncOpenAI,
) -> None:
    _, chunks = await _collect(
        oai, messages=user(directive(reasoning="Let me think.", text="Paris."))
    )
    kinds = []
    reasoning = ""
    for chunk in chunks[1:]:
        extra = chunk.choices[0].delta.model_extra or {}
        if "reasoning" in extra:
            kinds.append("reasoning")
            reasoning += extra["reasoning"]
        elif chunk.choices[0].delta.content:
            kinds.append("content")
    assert reasoning == "Let me think."
    assert kinds == sorted(kinds, key=lambda kind: kind != "reasoning")  # all reasoning first
    assert "content" in kinds


async def test_tool_call_arguments_arrive_in_several_chunks_and_reassemble(
    oai: openai.AsyncOpenAI,
) -> None:
    arguments = {"path": "/etc/hosts", "lines": [1, 2, 3], "note": "naïve ünïcode"}
    spec = directive(tool_calls=[{"name": "read_file", "arguments": arguments}])
    _, chunks = await _collect(oai, messages=user(spec))

    deltas = [call for c in chunks for call in (c.choices[0].delta.tool_calls or [])]
    start, *fragments = deltas
    assert start.index == 0
    assert start.id is not None and start.id.startswith("chatcmpl-tool-")
    assert start.type == "function"
    assert start.function is not None
    assert start.function.name == "read_file"
    assert start.function.arguments == ""
    assert len(fragments) >= 2
    assert all(f.id is None and f.function is not None for f in fragments)
    joined = "".join(f.function.arguments or "" for f in fragments if f.function)
    assert json.loads(joined) == arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_openai_stream_helper_reassembles_two_tool_calls(oai: openai.AsyncOpenAI) -> None:
    spec = directive(
        text="Reading both.",
        tool_calls=[
            {"name": "read", "arguments": {"path": "a.txt"}, "id": "call_a"},
            {"name": "read", "arguments": {"path": "b.txt"}},
        ],
    )
    async with oai.chat.completions.stream(model=MODEL, messages=user(spec)) as stream:
        final = await stream.get_final_completion()

    message = final.choices[0].message
    assert message.content == "Reading both."
    assert message.tool_calls is not None
    assert message.tool_calls[0].id == "call_a"
    assert [json.loads(call.function.arguments) for call in message.tool_calls] == [
        {"path": "a.txt"},
        {"path": "b.txt"},
    ]
    assert final.choices[0].finish_reason == "tool_calls"


async def test_include_usage_adds_a_final_usage_chunk(oai: openai.AsyncOpenAI) -> None:
    _, chunks = await _collect(
        oai,
        messages=user(directive(text="twelve chars", chunk_size=4)),
        stream_options={"include_usage": True},
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == 3
    assert last.usage.total_tokens == last.usage.prompt_tokens + 3
    assert last.usage.prompt_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


async def test_continuous_usage_counts_up_on_every_chunk(oai: openai.AsyncOpenAI) -> None:
    _, chunks = await _collect(
        oai,
        messages=user(directive(text="abcdefgh", chunk_size=2)),
        stream_options={"include_usage": True, "continuous_usage_stats": True},
    )
    completion_counts = [c.usage.completion_tokens for c in chunks if c.usage is not None]
    assert completion_counts == [0, 1, 2, 3, 4, 4]


async def test_stop_string_cuts_text_and_sets_stop_reason(oai: openai.AsyncOpenAI) -> None:
    text, chunks = await _collect(
        oai,
        messages=user(directive(text="alpha beta END gamma", chunk_size=5)),
        stop=["gamma", "END"],
    )
    assert text == "alpha beta "
    final = chunks[-1].choices[0]
    assert final.finish_reason == "stop"
    assert (final.model_extra or {})["stop_reason"] == "END"


async def test_max_tokens_truncates_with_finish_reason_length(oai: openai.AsyncOpenAI) -> None:
    text, chunks = await _collect(
        oai, messages=user(directive(text="0123456789", chunk_size=2)), max_tokens=3
    )
    assert text == "012345"
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_max_completion_tokens_wins_over_max_tokens(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(
        model=MODEL,
        messages=user(directive(text="0123456789", chunk_size=1)),
        max_tokens=8,
        max_completion_tokens=2,
    )
    assert completion.choices[0].message.content == "01"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


async def test_non_streaming_equals_the_reassembled_stream(oai: openai.AsyncOpenAI) -> None:
    spec = directive(reasoning="hmm", text="The answer.", tool_calls=[{"name": "f"}])
    completion = await oai.chat.completions.create(model=MODEL, messages=user(spec))
    async with oai.chat.completions.stream(model=MODEL, messages=user(spec)) as stream:
        streamed = await stream.get_final_completion()

    message = completion.choices[0].message
    assert completion.object == "chat.completion"
    assert message.content == streamed.choices[0].message.content == "The answer."
    assert (message.model_extra or {})["reasoning"] == "hmm"
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "f"  # type: ignore[union-attr]
    assert message.tool_calls[0].function.arguments == "{}"  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert completion.usage is not None
    # reasoning 1 chunk + text 3 chunks + tool start + 2 argument chunks
    assert completion.usage.completion_tokens == 7


async def test_model_is_optional_like_vllm(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.post(
        sim.url + "/v1/chat/completions", json={"messages": user("hi")}
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["model"] == MODEL
    assert body["choices"][0]["message"]["content"] == "Simulated reply to: hi"


async def test_raw_stream_is_vllm_shaped(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.post(
        sim.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": user(directive(text="ok")), "stream": True},
    ) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = await sse_events(response)

    assert events[-1] == "[DONE]"
    role, content = (json.loads(event) for event in events[:-1])
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert content["choices"] == [
        {
            "index": 0,
            "delta": {"content": "ok"},
            "logprobs": None,
            "finish_reason": "stop",
            "stop_reason": None,
        }
    ]
    assert set(content) == {"id", "object", "created", "model", "choices"}


async def test_ids_are_deterministic_for_a_seed(http: aiohttp.ClientSession) -> None:
    ids = []
    for _ in range(2):
        async with running_sim(SimConfig(seed=7)) as sim:
            async with http.post(
                sim.url + "/v1/chat/completions",
                json={"messages": user(directive(tool_calls=[{"name": "f"}]))},
            ) as response:
                body = await response.json()
            ids.append((body["id"], body["choices"][0]["message"]["tool_calls"][0]["id"]))
    assert ids[0] == ids[1]
    async with (
        running_sim(SimConfig(seed=8)) as sim,
        http.post(sim.url + "/v1/chat/completions", json={"messages": user("x")}) as response,
    ):
        other = (await response.json())["id"]
    assert other != ids[0][0]
