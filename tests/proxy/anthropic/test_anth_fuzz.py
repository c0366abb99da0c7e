"""Property tests: malformed input only ever yields the typed 400; streams never raise."""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autosred.proxy.anthropic import (
    AnthropicError,
    MessageStreamTranslator,
    message_from_completion,
    message_from_events,
    serialise,
    to_chat_request,
    to_tokenize_request,
)
from tests.proxy.anthropic.anth_helpers import SIGNER, VIEW, check_grammar
from tests.proxy.strategies import json_values, junk_or

# AUTOSRED_FUZZ_EXAMPLES=20000 for a long run; the default keeps the suite fast.
SETTINGS = settings(
    max_examples=int(os.environ.get("AUTOSRED_FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

BLOCK_TYPES = [
    "text",
    "image",
    "document",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "tool_reference",
    "search_result",
    "unknown_kind",
]
sources = st.fixed_dictionaries(
    {},
    optional={
        "type": junk_or(st.sampled_from(["base64", "url", "text", "content", "file"])),
        "media_type": junk_or(st.sampled_from(["image/png", "application/pdf"])),
        "data": junk_or(st.text(max_size=8)),
        "url": junk_or(st.text(max_size=8)),
        "content": json_values,
    },
)
blocks = st.recursive(
    st.fixed_dictionaries(
        {"type": junk_or(st.sampled_from(BLOCK_TYPES))},
        optional={
            "text": junk_or(st.text(max_size=12)),
            "id": junk_or(st.sampled_from(["T1", "T2", "toolu_asr_pabc", "toolu_asr_b!!"])),
            "tool_use_id": junk_or(st.sampled_from(["T1", "T2", "X"])),
            "name": junk_or(st.text(max_size=6)),
            "input": json_values,
            "thinking": junk_or(st.text(max_size=8)),
            "signature": json_values,
            "is_error": json_values,
            "source": junk_or(sources),
            "cache_control": json_values,
        },
    ),
    lambda children: st.fixed_dictionaries(
        {"type": st.just("tool_result"), "tool_use_id": st.sampled_from(["T1", "T2"])},
        optional={"content": st.lists(children, max_size=3) | st.text(max_size=5)},
    ),
    max_leaves=6,
)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": junk_or(
                st.sampled_from(["user", "assistant", "system", "ctx", "msg", "developer"])
            ),
            "content": junk_or(st.text(max_size=10) | st.lists(blocks, max_size=4)),
        },
    ),
    max_size=6,
)
tools = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "name": junk_or(st.sampled_from(["Bash", "Read"])),
            "type": junk_or(st.sampled_from(["custom", "web_search_20250305"])),
            "input_schema": json_values,
            "description": json_values,
        },
    ),
    max_size=3,
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": junk_or(st.just("claude-sonnet-4-5")),
        "max_tokens": junk_or(st.integers(min_value=-2, max_value=100000)),
        "messages": junk_or(messages),
        "system": junk_or(st.text(max_size=10) | st.lists(blocks, max_size=3)),
        "tools": junk_or(tools),
        "tool_choice": junk_or(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
                optional={
                    "name": st.sampled_from(["Bash", "web_search", "Nope"]),
                    "disable_parallel_tool_use": json_values,
                },
            )
        ),
        "thinking": junk_or(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["enabled", "disabled", "adaptive", "x"])},
                optional={"budget_tokens": json_values},
            )
        ),
        "output_config": junk_or(
            st.fixed_dictionaries({}, optional={"effort": json_values, "format": json_values})
        ),
        "temperature": json_values,
        "top_p": json_values,
        "top_k": json_values,
        "stop_sequences": junk_or(st.lists(st.text(max_size=3), max_size=2)),
        "stream": json_values,
        "metadata": json_values,
        "context_management": json_values,
    },
)


def _check_request(body: object) -> None:
    try:
        req = to_chat_request(body, recipe_view=VIEW, signer=SIGNER)
    except AnthropicError as error:
        assert (error.status, error.type) == (400, "invalid_request_error")
        assert error.message
    else:
        wire = serialise(req)
        assert json.loads(wire) == json.loads(json.dumps(req.body))
    try:
        to_tokenize_request(body, recipe_view=VIEW, signer=SIGNER)
    except AnthropicError as error:
        assert (error.status, error.type) == (400, "invalid_request_error")


@SETTINGS
@given(json_values)
def test_random_json_bodies_only_raise_invalid_request(body: object) -> None:
    _check_request(body)


@SETTINGS
@given(bodies)
def test_structured_random_bodies_only_raise_invalid_request(body: dict[str, Any]) -> None:
    _check_request(body)


# -------------------------------------------------------------------------------- stream

deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": st.just("assistant"),
        "content": st.none() | st.text(max_size=6) | st.sampled_from(["\n", "  ", ""]),
        "reasoning": st.none() | st.text(max_size=6),
        "reasoning_content": st.none() | st.text(max_size=6),
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"index": st.integers(min_value=0, max_value=2)},
                optional={
                    "id": st.sampled_from(["a", "b", "functions.X:0", ""]),
                    "function": st.fixed_dictionaries(
                        {},
                        optional={
                            "name": st.sampled_from(["A", "B"]),
                            "arguments": st.sampled_from(['{"x": ', "1}", "{}", '"', ""]),
                        },
                    ),
                },
            ),
            max_size=2,
        ),
    },
)
usages = st.fixed_dictionaries(
    {
        "prompt_tokens": st.integers(min_value=0, max_value=10**6),
        "completion_tokens": st.integers(min_value=0, max_value=10**5),
    },
    optional={
        "prompt_tokens_details": st.fixed_dictionaries({"cached_tokens": st.integers(0, 10**6)})
    },
)
chunks = st.fixed_dictionaries(
    {
        "choices": st.lists(
            st.fixed_dictionaries(
                {"index": st.just(0), "delta": deltas},
                optional={
                    "finish_reason": st.none()
                    | st.sampled_from(["stop", "length", "tool_calls", "content_filter"]),
                    "stop_reason": st.none() | st.sampled_from(["ZZ", 151645]),
                },
            ),
            max_size=1,
        )
    },
    optional={"usage": usages},
)


@SETTINGS
@given(st.lists(chunks, max_size=12), st.booleans())
def test_random_streams_keep_the_grammar(stream: list[dict[str, Any]], single: bool) -> None:
    translator = MessageStreamTranslator(
        model="m", signer=SIGNER, message_id="msg_f", single_tool_call=single
    )
    events = []
    for item in stream:
        events.extend(translator.feed(item))
    events.extend(translator.close())
    for event in events:
        frame = event.encode()
        assert frame.startswith(b"event: ") and frame.endswith(b"\n\n")
    if events[-1].type == "error":
        assert "message_delta" not in [event.type for event in events]
        return
    check_grammar(events)
    message = message_from_events(events)
    for block in message["content"]:
        assert block["type"] in {"thinking", "text", "tool_use"}
        if block["type"] == "text":
            assert block["text"].strip()
        if block["type"] == "thinking":
            assert SIGNER.verify(block["thinking"], block["signature"])
        if block["type"] == "tool_use":
            assert isinstance(block["input"], dict)
    if single:
        assert sum(block["type"] == "tool_use" for block in message["content"]) <= 1


@SETTINGS
@given(json_values)
def test_random_chunks_never_raise(value: Any) -> None:
    translator = MessageStreamTranslator(model="m", signer=SIGNER)
    if isinstance(value, dict):
        for event in translator.feed(value):
            event.encode()
    for event in translator.close():
        event.encode()


@SETTINGS
@given(json_values)
def test_random_completions_never_raise(value: Any) -> None:
    message = message_from_completion(value, model="m", signer=SIGNER)
    json.dumps(message)
