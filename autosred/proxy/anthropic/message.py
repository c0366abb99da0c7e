"""The non-streaming Anthropic Message: from a chat.completion, or by accumulating events.

Claude Code falls back to non-streaming after a broken stream, so this path must produce the
same content blocks as the stream (docs/conformance.md, case 26): thinking first (signed), then
text, then tool_use; ``stop_sequence`` is always present, even when null (ogx#5521).
"""

from __future__ import annotations

import json
from typing import Any

from autosred.proxy.anthropic.events import Event, new_message_id
from autosred.proxy.anthropic.signature import ThinkingSigner
from autosred.proxy.anthropic.toolids import client_tool_id
from autosred.proxy.chatstream import cached_tokens_of, int_or_zero


def stop_reason_of(
    finish_reason: object, stop_reason: object, *, tool_blocks: int
) -> tuple[str, str | None]:
    """(Anthropic stop_reason, stop_sequence) for vLLM's finish_reason and stop_reason."""
    if finish_reason == "length":
        return "max_tokens", None
    if tool_blocks:
        # Named/required tool_choice finishes with "stop" though a call was made
        # (docs/conformance.md, case 10).
        return "tool_use", None
    if finish_reason == "stop":
        # vLLM reports the matched stop string in choices[].stop_reason (an int is a stop
        # token id, i.e. an ordinary end of turn).
        if isinstance(stop_reason, str) and stop_reason:
            return "stop_sequence", stop_reason
        return "end_turn", None
    if finish_reason == "content_filter":
        return "refusal", None
    return "end_turn", None


def usage_fields(prompt_tokens: int, cached_tokens: int) -> dict[str, int]:
    """Anthropic input usage: cached prompt tokens are reported apart, as Anthropic does."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    return {
        "input_tokens": prompt_tokens - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def parse_tool_arguments(arguments: object) -> tuple[dict[str, Any], bool]:
    """(tool input object, whether it was well-formed); never raises (docs/conformance.md,
    case 38)."""
    if isinstance(arguments, dict):
        return arguments, True
    if arguments is None:
        return {}, True
    if not isinstance(arguments, str):
        return {}, False
    if not arguments.strip():
        return {}, True  # a call without parameters
    value: Any = arguments
    for _ in range(2):  # double-encoded "\"{…}\"" is unwrapped once
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}, False
        if not isinstance(value, str):
            break
    if isinstance(value, dict):
        return value, True
    return {}, False


def generated_tool_id(message_id: str, index: int) -> str:
    """An upstream-style id for a tool call vLLM sent without one."""
    return f"call_{message_id.removeprefix('msg_')}_{index}"


def message_from_completion(
    completion: object,
    *,
    model: str,
    signer: ThinkingSigner,
    message_id: str | None = None,
    single_tool_call: bool = False,
    anomalies: list[str] | None = None,
) -> dict[str, Any]:
    """The Anthropic Message for a vLLM ``chat.completion`` response (never raises)."""
    message_id = message_id or new_message_id()
    body = completion if isinstance(completion, dict) else {}
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    if not isinstance(choice, dict):
        choice = {}
    reply = choice.get("message")
    if not isinstance(reply, dict):
        reply = {}
    content: list[dict[str, Any]] = []
    reasoning = reply.get("reasoning") or reply.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning.strip():
        content.append(
            {"type": "thinking", "thinking": reasoning, "signature": signer.sign(reasoning)}
        )
    text = reply.get("content")
    # Empty or whitespace-only text is no block at all: Anthropic rejects such blocks when the
    # client echoes them back (docs/conformance.md, case 14).
    if isinstance(text, str) and text.strip():
        content.append({"type": "text", "text": text})
    calls = reply.get("tool_calls")
    tool_blocks = 0
    if isinstance(calls, list):
        for index, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                continue
            call_id = call.get("id")
            if not isinstance(call_id, str) or not call_id:
                call_id = generated_tool_id(message_id, index)
            tool_input, ok = parse_tool_arguments(function.get("arguments"))
            if not ok and anomalies is not None:
                anomalies.append(f"tool call {call_id}: arguments are not a JSON object")
            content.append(
                {
                    "type": "tool_use",
                    "id": client_tool_id(call_id),
                    "name": function["name"],
                    "input": tool_input,
                }
            )
            tool_blocks += 1
            if single_tool_call:
                # disable_parallel_tool_use: the first call only (docs/conformance.md, case 30)
                break
    stop_reason, stop_sequence = stop_reason_of(
        choice.get("finish_reason"), choice.get("stop_reason"), tool_blocks=tool_blocks
    )
    usage = body.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    prompt_tokens = int_or_zero(usage.get("prompt_tokens"))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            **usage_fields(prompt_tokens, cached_tokens_of(usage)),
            "output_tokens": int_or_zero(usage.get("completion_tokens")),
        },
    }


def message_from_events(events: list[Event]) -> dict[str, Any]:
    """Accumulate a translator's events into the Message a non-streaming client gets.

    Raises ``ValueError`` on an ``error`` event or a stream that did not reach message_stop,
    so the caller answers with an error instead of a truncated message.
    """
    message: dict[str, Any] | None = None
    json_parts: dict[int, list[str]] = {}
    stopped = False
    for event in events:
        data = event.data
        kind = event.type
        if kind == "message_start":
            message = json.loads(json.dumps(data["message"]))
        elif kind == "error":
            raise ValueError(f"stream error: {data['error']['message']}")
        elif message is None:
            continue
        elif kind == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            block = message["content"][data["index"]]
            delta = data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                json_parts.setdefault(data["index"], []).append(delta["partial_json"])
        elif kind == "content_block_stop":
            index = data["index"]
            if index in json_parts:
                tool_input, _ = parse_tool_arguments("".join(json_parts.pop(index)))
                message["content"][index]["input"] = tool_input
        elif kind == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["stop_sequence"] = data["delta"]["stop_sequence"]
            message["usage"].update(data["usage"])
        elif kind == "message_stop":
            stopped = True
    if message is None or not stopped:
        raise ValueError("the stream ended before message_stop")
    return message
