"""count_tokens: the /tokenize body and the fallback estimate (docs/conformance.md, cases 60-63)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autosred.proxy.anthropic import (
    AnthropicError,
    count_tokens_response,
    estimate_prompt_tokens,
    to_tokenize_request,
)
from autosred.proxy.prompt import IMAGE_TOKENS
from tests.proxy.anthropic.anth_helpers import (
    SIGNER,
    VIEW,
    base,
    capture_bodies,
    upstream,
)

TOOLS = [{"name": "Bash", "description": "Run", "input_schema": {"type": "object"}}]


def tokenize(body: object) -> dict[str, Any]:
    return to_tokenize_request(body, recipe_view=VIEW, signer=SIGNER)


def test_case_60_count_tokens_reply_shape() -> None:
    assert count_tokens_response(42) == {"input_tokens": 42}


def test_case_61_tokenize_body_uses_the_same_conversion() -> None:
    messages_body = base(
        system=[
            {"type": "text", "text": "x-anthropic-billing-header: cc=1;"},
            {"type": "text", "text": "S"},
        ],
        tools=TOOLS,
        thinking={"type": "enabled", "budget_tokens": 1024},
        output_config={"effort": "high"},
        messages=[{"role": "user", "content": "hi"}, {"role": "system", "content": "note"}],
    )
    count_body = {k: v for k, v in messages_body.items() if k != "max_tokens"}
    chat = upstream(messages_body)
    assert tokenize(count_body) == {
        "model": "qwen3-8b",
        "messages": chat["messages"],
        "tools": chat["tools"],
        "chat_template_kwargs": {"enable_thinking": True, "reasoning_effort": "high"},
        "add_generation_prompt": True,
    }


def test_case_61_prefill_is_counted_as_a_continuation() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "{"}],
    }
    out = tokenize(body)
    assert out["add_generation_prompt"] is False and out["continue_final_message"] is True


def test_case_62_tolerates_what_messages_tolerates() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "context_management": {"edits": []},
        "thinking": {"type": "adaptive"},
        "messages": [
            {"role": "system", "content": "ctx"},
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
                    {"type": "text", "text": "what", "cache_control": {"type": "ephemeral"}},
                ],
            },
        ],
    }
    out = tokenize(body)
    assert out["messages"][0] == {"role": "system", "content": "ctx"}
    with pytest.raises(AnthropicError, match="messages: Field required"):
        tokenize({"model": "m"})


def test_case_63_estimate_errs_high_and_counts_images_and_tools() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 100  # ~1000 real tokens
    chat = {"messages": [{"role": "user", "content": text}]}
    estimate = estimate_prompt_tokens(chat)
    assert estimate >= len(text) / 4 * 1.2
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 100000}}
    with_image = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "?"}]}]}
    assert IMAGE_TOKENS <= estimate_prompt_tokens(with_image) < IMAGE_TOKENS + 100
    with_tools = {**chat, "tools": upstream(base(tools=TOOLS))["tools"]}
    assert estimate_prompt_tokens(with_tools) > estimate
    cjk = {"messages": [{"role": "user", "content": "日本語の文章" * 50}]}
    assert estimate_prompt_tokens(cjk) >= 300
    assert estimate_prompt_tokens({}) > 0
    assert estimate_prompt_tokens({"messages": ["junk", {"content": 5}]}) > 0


def test_case_63_estimate_of_a_real_claude_code_request_is_plausible() -> None:
    name, body = next(item for item in capture_bodies() if item[0].startswith("01_plain"))
    chat = upstream(body)
    size = len(json.dumps(chat))
    # A 125 kB prompt of prose and JSON schemas is ~35k tokens; the estimate must not be lower.
    assert estimate_prompt_tokens(chat) >= size / 4, name
