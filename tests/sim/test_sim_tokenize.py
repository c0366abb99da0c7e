"""The toy tokenizer: /tokenize agrees with usage.prompt_tokens, and tokenization is lossless."""

from __future__ import annotations

from typing import Any

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from autosred.sim import SimHandle
from autosred.sim.tokenizer import ToyTokenizer, render_chat

from .helpers import MODEL, WINDOW

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file from disk.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]

CONVERSATIONS: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "Hello!"}]},
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path": "a"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "file body"},
            {"role": "user", "content": "and now?"},
        ],
        "tools": TOOLS,
    },
    {
        "messages": [{"role": "user", "content": "Think less."}],
        "chat_template_kwargs": {"enable_thinking": False},
    },
]


async def _json(http: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with http.post(url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_tokenize_count_equals_chat_prompt_tokens(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    counts = []
    for conversation in CONVERSATIONS:
        counted = await _json(http, sim.url + "/tokenize", {"model": MODEL, **conversation})
        chat = await _json(http, sim.url + "/v1/chat/completions", {"model": MODEL, **conversation})
        assert counted["count"] == chat["usage"]["prompt_tokens"]
        assert counted["count"] == len(counted["tokens"])
        assert counted["max_model_len"] == WINDOW
        assert counted["token_strs"] is None
        counts.append(counted["count"])
    assert len(set(counts)) == len(counts)  # different conversations, different counts


async def test_tools_and_kwargs_change_the_count(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    base = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    plain = (await _json(http, sim.url + "/tokenize", base))["count"]
    with_tools = (await _json(http, sim.url + "/tokenize", {**base, "tools": TOOLS}))["count"]
    no_prompt = await _json(http, sim.url + "/tokenize", {**base, "add_generation_prompt": False})
    assert with_tools > plain
    assert no_prompt["count"] < plain


async def test_malformed_tool_calls_are_rendered_not_a_500(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    # The fuzz run's bodies (tests/hardening) reach the simulator through the pass-through.
    counts = []
    for calls in (7, "call", {"function": 1}, [7]):
        messages = [
            {"role": "assistant", "content": "x", "tool_calls": calls},
            {"role": "user", "content": "go on"},
        ]
        body = {"model": MODEL, "messages": messages}
        chat = await _json(http, sim.url + "/v1/chat/completions", body)
        counted = await _json(http, sim.url + "/tokenize", body)
        assert counted["count"] == chat["usage"]["prompt_tokens"]
        counts.append(counted["count"])
    plain = [{"role": "assistant", "content": "x"}, {"role": "user", "content": "go on"}]
    bare = await _json(http, sim.url + "/tokenize", {"model": MODEL, "messages": plain})
    assert min(counts) > bare["count"], "what was sent is in the prompt"


async def test_streamed_usage_matches_tokenize(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    conversation = CONVERSATIONS[1]
    counted = await _json(http, sim.url + "/tokenize", conversation)
    body = {**conversation, "stream": True, "stream_options": {"include_usage": True}}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as response:
        text = await response.text()
    usage_line = [line for line in text.splitlines() if '"usage"' in line][-1]
    assert f'"prompt_tokens":{counted["count"]},' in usage_line


async def test_tokenize_prompt_and_detokenize_round_trip(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    prompt = "def f(x):\n    return x  # ok"
    counted = await _json(
        http, sim.url + "/tokenize", {"prompt": prompt, "return_token_strs": True}
    )
    assert "".join(counted["token_strs"]) == prompt
    decoded = await _json(http, sim.url + "/detokenize", {"tokens": counted["tokens"]})
    assert decoded == {"prompt": prompt}
    completion = await _json(http, sim.url + "/v1/completions", {"prompt": prompt, "max_tokens": 1})
    assert completion["usage"]["prompt_tokens"] == counted["count"]


async def test_tokenize_rejects_unknown_model(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/tokenize", json={"model": "nope", "prompt": "x"}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["message"] == "The model `nope` does not exist."


@given(st.text())
def test_tokenization_is_lossless_and_counts_agree(text: str) -> None:
    tokenizer = ToyTokenizer()
    pieces = tokenizer.pieces(text)
    assert "".join(pieces) == text
    ids = tokenizer.encode(text)
    assert tokenizer.count(text) == len(pieces) == len(ids)
    if len(set(ids)) == len(set(pieces)):  # no hash collision among these pieces
        assert tokenizer.decode(ids) == text


@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text()), min_size=1))
def test_rendering_is_deterministic_and_grows_with_messages(
    turns: list[tuple[str, str]],
) -> None:
    messages = [{"role": role, "content": content} for role, content in turns]
    tokenizer = ToyTokenizer()
    rendered = render_chat(messages)
    assert rendered == render_chat([dict(message) for message in messages])
    assert tokenizer.count(rendered) > tokenizer.count(render_chat(messages[:-1]))
