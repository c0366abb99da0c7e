"""Shared builders and checks for the Responses translation tests (no I/O beyond captures)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import partial
from typing import Any

from autosred.proxy.responses import (
    Event,
    ModelView,
    ReasoningSealer,
    ResponsesRequest,
    ResponsesStreamTranslator,
    to_chat_request,
)
from tests.proxy import captures

SEALER = ReasoningSealer(b"test-key-0123456789abcdef")
VIEW = ModelView(served_model_name="qwen3-8b", reasoning_switch="enable_thinking")
MODEL = "gpt-5.5"

capture_bodies = partial(captures.capture_bodies, "codex")


# -------------------------------------------------------------------------------- request


def base(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "input": "hi"}
    body.update(fields)
    return body


def request(
    body: dict[str, Any], view: ModelView = VIEW, history: list[Any] | None = None
) -> ResponsesRequest:
    return to_chat_request(body, view=view, sealer=SEALER, history=history)


def upstream(body: dict[str, Any], view: ModelView = VIEW) -> dict[str, Any]:
    return request(body, view).body


def messages(*items: Any, **fields: Any) -> list[dict[str, Any]]:
    """The upstream messages for input ``items``."""
    result: list[dict[str, Any]] = upstream(base(input=list(items), **fields))["messages"]
    return result


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def developer(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "developer",
        "content": [{"type": "input_text", "text": text}],
    }


def assistant(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def function_call(
    call_id: str, name: str = "exec_command", arguments: str = "{}"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def call_output(call_id: str, output: Any) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def reasoning_item(text: str, sealer: ReasoningSealer = SEALER) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": "rs_x",
        "summary": [{"type": "summary_text", "text": text}],
        "encrypted_content": sealer.seal(text),
    }


# -------------------------------------------------------------------------------- stream


ROLE_CHUNK: dict[str, Any] = {
    "id": "chatcmpl-abc",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
}
"""vLLM's first chunk: the role, and empty content."""


def translator(req: ResponsesRequest | None = None, **kwargs: Any) -> ResponsesStreamTranslator:
    if req is not None:
        return ResponsesStreamTranslator.for_request(req, sealer=SEALER, response_id="resp_test")
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("sealer", SEALER)
    kwargs.setdefault("response_id", "resp_test")
    return ResponsesStreamTranslator(**kwargs)


def run(
    chunks: Iterable[dict[str, Any]],
    t: ResponsesStreamTranslator | None = None,
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


def sse(events: list[Event]) -> bytes:
    return b"".join(item.encode() for item in events)


def parse_sse(raw: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    """(event payloads, comment lines) of a Responses SSE body; checks each frame's shape."""
    payloads: list[dict[str, Any]] = []
    comments: list[str] = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        name = None
        data = None
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line[1:].strip())
            elif line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                assert data is None, f"one data line per frame: {block!r}"
                data = line[len("data: ") :]
            else:
                raise AssertionError(f"unexpected SSE line {line!r}")
        if name is None and data is None:
            continue
        assert data is not None and data != "[DONE]", "Responses streams carry no [DONE]"
        payload = json.loads(data)
        assert payload["type"] == name, (payload["type"], name)
        payloads.append(payload)
    return payloads, comments


def decoded(events: list[Event]) -> list[dict[str, Any]]:
    """What a client parses: each event's bytes decoded (checks encode == data)."""
    payloads, _ = parse_sse(sse(events))
    assert payloads == [item.data for item in events]
    return payloads


_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def check_lifecycle(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """Cases 67/68/75: created, in_progress, items (added … done, one open at a time, indices
    0, 1, 2 …), one terminal event; sequence_number 0, 1, 2 …; the terminal response lists the
    very items (ids, content) that output_item.done carried. Returns the terminal response."""
    types = [payload["type"] for payload in payloads]
    assert [payload["sequence_number"] for payload in payloads] == list(range(len(payloads))), [
        (p["type"], p["sequence_number"]) for p in payloads
    ]
    assert types[:2] == ["response.created", "response.in_progress"], types
    created = payloads[0]["response"]
    assert created["status"] == "in_progress" and created["output"] == []
    assert created["id"].startswith("resp_") and created["object"] == "response"
    assert types[-1] in _TERMINAL, types
    assert sum(kind in _TERMINAL for kind in types) == 1
    final: dict[str, Any] = payloads[-1]["response"]
    assert final["id"] == created["id"]
    done_items: list[dict[str, Any]] = []
    open_item: dict[str, Any] | None = None
    for payload in payloads[2:-1]:
        kind = payload["type"]
        if kind == "response.in_progress":
            continue
        if kind == "response.output_item.added":
            assert open_item is None, "an item was added while another is open"
            assert payload["output_index"] == len(done_items)
            open_item = payload["item"]
            assert open_item["id"], open_item
            continue
        assert open_item is not None, f"{kind} outside an item"
        if kind == "response.output_item.done":
            item = payload["item"]
            assert payload["output_index"] == len(done_items)
            assert item["id"] == open_item["id"] and item["type"] == open_item["type"]
            done_items.append(item)
            open_item = None
        else:
            assert payload["item_id"] == open_item["id"], payload
            assert payload["output_index"] == len(done_items)
    if types[-1] != "response.failed":
        assert open_item is None, "an item was never done"
        assert final["output"] == done_items
        usage = final["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert set(usage["input_tokens_details"]) == {"cached_tokens"}
        assert set(usage["output_tokens_details"]) == {"reasoning_tokens"}
    return final


def items_of(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p["item"] for p in payloads if p["type"] == "response.output_item.done"]


def of_type(payloads: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [p for p in payloads if p["type"] == kind]
