"""count_tokens: the same conversion as /v1/messages, tokenized by vLLM; and a fallback.

Claude Code (interactive ``/context``) sends ``{model, messages, tools}`` bodies. The count must
equal the prompt tokens of the real request, so the body goes through the very mapper
``/v1/messages`` uses and then to vLLM ``POST /tokenize`` with the same ``messages``, ``tools``
and ``chat_template_kwargs`` (case 61). When /tokenize is unavailable the estimate errs high,
because an undercount makes Claude Code compact too late (copilot-api PR#134).
"""

from __future__ import annotations

import math
from typing import Any

from autosred.proxy.anthropic.errors import AnthropicError
from autosred.proxy.anthropic.request import RecipeView, build_chat_body, checked_dumps
from autosred.proxy.anthropic.signature import ThinkingSigner

# Anthropic bills an image at up to ~1,600 tokens (w*h/750 with a 1.15 MP cap); vision encoders
# in vLLM land in the same range for typical screenshots.
IMAGE_TOKENS = 1600
MESSAGE_OVERHEAD = 8  # role markers and separators of one chat-template turn
BASE_OVERHEAD = 16


def to_tokenize_request(
    body: object, *, recipe_view: RecipeView, signer: ThinkingSigner
) -> dict[str, Any]:
    """The vLLM ``/tokenize`` body for a ``/v1/messages/count_tokens`` body.

    Raises ``AnthropicError`` (invalid_request_error) on malformed input, nothing else.
    ``max_tokens`` is not required; everything /v1/messages tolerates is tolerated (case 62).
    """
    if not isinstance(body, dict):
        raise AnthropicError.invalid_request("The request body must be a JSON object")
    try:
        chat, _, _, _ = build_chat_body(
            body, recipe_view=recipe_view, signer=signer, require_max_tokens=False
        )
    except RecursionError:
        raise AnthropicError.invalid_request("The request body is nested too deeply") from None
    out = tokenize_body(chat)
    checked_dumps(out)
    return out


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


def _text_tokens(text: str) -> int:
    # ~3 ASCII characters per token errs high for prose and code (3.5-4.5 typical); every
    # non-ASCII character counts as a token of its own (CJK is ~1-1.5 chars per token).
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return math.ceil((len(text) - non_ascii) / 3) + non_ascii


def _content_tokens(content: object) -> int:
    if isinstance(content, str):
        return _text_tokens(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                total += IMAGE_TOKENS
            elif isinstance(part.get("text"), str):
                total += _text_tokens(part["text"])
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
            total += _text_tokens(reasoning)
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                for key in ("name", "arguments"):
                    value = function.get(key)
                    if isinstance(value, str):
                        total += _text_tokens(value) + 2
    tools = chat_body.get("tools")
    if isinstance(tools, list) and tools:
        # Templates render tool schemas as JSON (plus a preamble); count the JSON itself.
        total += _text_tokens(checked_dumps({"tools": tools}).decode("utf-8")) + 32
    return total


def prompt_tokens_ceiling(wire: bytes) -> int:
    """A bound ``estimate_prompt_tokens`` never exceeds, read off the serialised chat body
    without parsing it (a byte count and one substring count, microseconds for 100 KB).

    Every estimated text token stands for at least one byte of that JSON (three ASCII
    characters, or one multi-byte character), and each message's, call's and tool list's
    overhead is smaller than its JSON syntax; only images count more than their bytes.
    """
    return len(wire) + BASE_OVERHEAD + 48 + IMAGE_TOKENS * wire.count(b'"image_url"')


def count_tokens_response(input_tokens: int) -> dict[str, int]:
    """The ``/v1/messages/count_tokens`` reply."""
    return {"input_tokens": input_tokens}
