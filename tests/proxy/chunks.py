"""vLLM ``chat.completion.chunk`` builders for both translating surfaces' stream tests."""

from __future__ import annotations

from typing import Any


def chunk(
    delta: dict[str, Any] | None = None,
    *,
    finish: str | None = None,
    stop_reason: object = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A vLLM ``chat.completion.chunk`` with one choice."""
    data: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "qwen3-8b",
        "choices": [
            {
                "index": 0,
                "delta": delta if delta is not None else {},
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": stop_reason,
            }
        ],
    }
    if usage is not None:
        data["usage"] = usage
    return data


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def usage_chunk(
    prompt: int, completion: int, cached: int | None = None, reasoning: int | None = None
) -> dict[str, Any]:
    """The trailing ``choices: []`` chunk that include_usage adds."""
    counts: dict[str, Any] = dict(usage(prompt, completion))
    if cached is not None:
        counts["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        counts["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "qwen3-8b",
        "choices": [],
        "usage": counts,
    }


def tool_delta(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index}
    if id is not None:
        call["id"] = id
        call["type"] = "function"
    function: dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if args is not None:
        function["arguments"] = args
    if function:
        call["function"] = function
    return {"tool_calls": [call]}
