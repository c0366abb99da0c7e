"""Prompt sizes of upstream chat bodies, for every translating surface (pure).

A surface that translates to Chat Completions must keep ``max_tokens`` within what is left
of the context (vLLM rejects the request otherwise). The exact prompt size comes from vLLM's
``POST /tokenize`` of the same messages, tools and template options (``tokenize_body``); a
cheap estimate that errs high decides whether that round trip is needed at all.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Anthropic bills an image at up to ~1,600 tokens (w*h/750 with a 1.15 MP cap); vision encoders
# in vLLM land in the same range for typical screenshots.
IMAGE_TOKENS = 1600
MESSAGE_OVERHEAD = 8  # role markers and separators of one chat-template turn
BASE_OVERHEAD = 16


def tokenize_body(chat: dict[str, Any]) -> dict[str, Any]:
    """The ``/tokenize`` body rendering exactly the prompt of upstream chat body ``chat``."""
    out: dict[str, Any] = {"model": chat["model"], "messages": chat["messages"]}
    if "tools" in chat:
        out["tools"] = chat["tools"]
    kwargs = dict(chat.get("chat_template_kwargs", {}))
    if "reasoning_effort" in chat:
        # vLLM hands reasoning_effort to the chat template; /tokenize only takes kwargs.
        kwargs["reasoning_effort"] = chat["reasoning_effort"]
    if kwargs:
        out["chat_template_kwargs"] = kwargs
    if chat.get("continue_final_message"):
        out["add_generation_prompt"] = False
        out["continue_final_message"] = True
    else:
        out["add_generation_prompt"] = True
    return out


def text_tokens(text: str) -> int:
    """~3 ASCII characters per token errs high for prose and code (3.5-4.5 typical); every
    non-ASCII character counts as a token of its own (CJK is ~1-1.5 chars per token)."""
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return math.ceil((len(text) - non_ascii) / 3) + non_ascii


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
            elif isinstance(part.get("text"), str):
                total += text_tokens(part["text"])
    return total


def estimate_prompt_tokens(chat_body: dict[str, Any]) -> int:
    """A pure, high-side estimate of a chat (or /tokenize) body's prompt tokens."""
    total = BASE_OVERHEAD
    messages = chat_body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        total += MESSAGE_OVERHEAD + _content_tokens(message.get("content"))
        reasoning = message.get("reasoning")
        if isinstance(reasoning, str):
            total += text_tokens(reasoning)
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    value = function.get(key)
                    if isinstance(value, str):
                        total += text_tokens(value) + 2
    tools = chat_body.get("tools")
    if isinstance(tools, list) and tools:
        # Templates render tool schemas as JSON (plus a preamble); count the JSON itself.
        schema = json.dumps({"tools": tools}, ensure_ascii=False, separators=(",", ":"))
        total += text_tokens(schema) + 32
    return total


def prompt_tokens_ceiling(wire: bytes) -> int:
    """A bound ``estimate_prompt_tokens`` never exceeds, read off the serialised chat body
    without parsing it (a byte count and one substring count: microseconds for 100 KB).

    Every estimated text token stands for at least one byte of that JSON (three ASCII
    characters, or one multi-byte character), and each message's, call's and tool list's
    overhead is smaller than its JSON syntax; only images count more than their bytes.
    """
    return len(wire) + BASE_OVERHEAD + 48 + IMAGE_TOKENS * wire.count(b'"image_url"')


def clamp_max_tokens(requested: int, prompt_tokens: int, max_model_len: int) -> int:
    """The largest output allowance vLLM accepts: at most what is left of the context.

    Never below 1: when the prompt alone fills the context, vLLM's own rejection (a context
    overflow the surfaces report in their clients' terms) is the right answer.
    """
    return max(1, min(requested, max_model_len - prompt_tokens))
