"""prompt_tokens_ceiling bounds estimate_prompt_tokens: the handler skips the estimate (and
the /tokenize round trip) for requests the bound already shows to fit."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autosred.proxy.anthropic.request import serialise
from autosred.proxy.prompt import estimate_prompt_tokens, prompt_tokens_ceiling
from tests.proxy.anthropic.anth_helpers import base, capture_bodies, request

TEXT = st.text(max_size=60)
BLOCK = st.one_of(
    TEXT.map(lambda t: {"type": "text", "text": t or "x"}),
    st.just({"type": "image", "source": {"type": "url", "url": "http://a/b.png"}}),
)
TOOL_TURN = st.tuples(TEXT, st.dictionaries(st.text(max_size=5), TEXT, max_size=3)).map(
    lambda p: [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "T", "name": "f", "input": p[1]}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "T", "content": p[0]}]},
    ]
)


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": draw(
                st.one_of(TEXT.map(lambda t: t or "x"), st.lists(BLOCK, min_size=1, max_size=4))
            ),
        }
    ]
    for turn in draw(st.lists(TOOL_TURN, max_size=3)):
        messages += turn
    tools = [
        {"name": f"t{i}", "description": draw(TEXT), "input_schema": {"type": "object"}}
        for i in range(draw(st.integers(0, 3)))
    ]
    return base(messages=messages, system=draw(TEXT), tools=tools)


@settings(max_examples=200, deadline=None)
@given(body=bodies())
def test_the_ceiling_bounds_the_estimate(body: dict[str, Any]) -> None:
    chat = request(body)
    assert estimate_prompt_tokens(chat.body) <= prompt_tokens_ceiling(serialise(chat))


@pytest.mark.parametrize("captured", [b for _, b in capture_bodies()])
def test_the_ceiling_bounds_the_estimate_of_real_requests(captured: dict[str, Any]) -> None:
    chat = request(captured)
    estimate = estimate_prompt_tokens(chat.body)
    ceiling = prompt_tokens_ceiling(serialise(chat))
    assert estimate <= ceiling < 4 * estimate  # a bound, and not a useless one
