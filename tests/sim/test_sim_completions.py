"""POST /v1/completions: strings, lists, streaming, vLLM's default of 16 tokens."""

from __future__ import annotations

import json

import aiohttp
import openai

from autosred.sim import SimHandle

from .helpers import MODEL, sse_events


async def test_default_max_tokens_is_16_like_vllm(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.completions.create(model=MODEL, prompt="x" * 200)
    choice = completion.choices[0]
    assert completion.object == "text_completion"
    assert completion.id.startswith("cmpl-")
    assert choice.finish_reason == "length"
    assert choice.text == ("Simulated reply to: " + "x" * 60)[: 16 * 4]
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 16


async def test_prompt_list_gives_one_choice_per_prompt(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.completions.create(
        model=MODEL, prompt=["a", '#sim {"text": "B!"}'], max_tokens=100
    )
    assert [(c.index, c.text) for c in completion.choices] == [
        (0, "Simulated reply to: a"),
        (1, "B!"),
    ]
    assert [c.finish_reason for c in completion.choices] == ["stop", "stop"]


async def test_streamed_completion_with_stop_and_usage(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": MODEL,
        "prompt": '#sim {"text": "one two three four", "chunk_size": 4}',
        "stream": True,
        "stop": " three",
        "stream_options": {"include_usage": True},
    }
    async with http.post(sim.url + "/v1/completions", json=body) as response:
        events = await sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "text_completion" for chunk in chunks)
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert text == "one two"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-2]["choices"][0]["stop_reason"] == " three"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2


async def test_completions_need_a_prompt(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/completions", json={"model": MODEL}) as response:
        assert response.status == 400
        assert "Field required" in (await response.json())["error"]["message"]
