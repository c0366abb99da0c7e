"""Shared builders for the Anthropic translation tests (no I/O beyond reading captures)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from autosred.proxy.anthropic import (
    ChatRequest,
    Event,
    MessageStreamTranslator,
    ModelView,
    ThinkingSigner,
    to_chat_request,
)
from tests.proxy import captures

SIGNER = ThinkingSigner(b"test-key-0123456789abcdef")
VIEW = ModelView(served_model_name="qwen3-8b", reasoning_switch="enable_thinking")
MODEL = "claude-sonnet-4-5"

capture_bodies = partial(captures.capture_bodies, "claude")


def request(body: dict[str, Any], view: ModelView = VIEW) -> ChatRequest:
    return to_chat_request(body, recipe_view=view, signer=SIGNER)


def upstream(body: dict[str, Any], view: ModelView = VIEW) -> dict[str, Any]:
    return request(body, view).body


def base(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(fields)
    return body


# -------------------------------------------------------------------------------- stream


def translator(**kwargs: Any) -> MessageStreamTranslator:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("signer", SIGNER)
    kwargs.setdefault("message_id", "msg_test")
    return MessageStreamTranslator(**kwargs)


def run(
    chunks: Iterable[dict[str, Any]],
    t: MessageStreamTranslator | None = None,
    *,
    close: bool = True,
) -> list[Event]:
    t = t or translator()
    events: list[Event] = []
    for item in chunks:
        events.extend(t.feed(item))
    if close:
        events.extend(t.close())
    return events


def shapes(events: list[Event]) -> list[tuple[Any, ...]]:
    """A compact view: (type, index, delta type or block type)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        data = event.data
        if event.type == "content_block_start":
            out.append((event.type, data["index"], data["content_block"]["type"]))
        elif event.type == "content_block_delta":
            out.append((event.type, data["index"], data["delta"]["type"]))
        elif event.type == "content_block_stop":
            out.append((event.type, data["index"]))
        else:
            out.append((event.type,))
    return out


def sse(events: list[Event]) -> bytes:
    return b"".join(event.encode() for event in events)


def check_grammar(events: list[Event]) -> None:
    """Case 15/17: message_start ping* (start delta* stop)* message_delta message_stop."""
    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types.count("message_start") == 1
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("message_stop") == 1 and types.count("message_delta") == 1
    open_index: int | None = None
    expected = 0
    for event in events[1:-2]:
        data = event.data
        assert data["type"] == event.type
        if event.type == "ping":
            continue
        if event.type == "content_block_start":
            assert open_index is None, "a block started while another is open"
            assert data["index"] == expected
            open_index = expected
            expected += 1
        elif event.type == "content_block_delta":
            assert data["index"] == open_index, "delta for a block that is not open"
        elif event.type == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        else:
            raise AssertionError(f"unexpected {event.type} inside the stream")
    assert open_index is None, "a block was never stopped"
