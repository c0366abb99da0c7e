"""Checklist F of docs/conformance.md (cases 54-59), client tokens, and wakes seen by an
Anthropic client.

Every error is in the documented envelope with ``request_id`` equal to the ``request-id``
header; statuses steer Claude Code (529/429 retried with Retry-After, 400 fails at once).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.proxy.anthropic_http.support import (
    BATCH_TOKEN,
    TOKEN,
    Api,
    assert_error_envelope,
    body,
    parse_sse,
    sim,
)
from tests.support.processes import crash_server

pytestmark = pytest.mark.asyncio(loop_scope="package")

VLLM_OVERFLOW = (
    "This model's maximum context length is 4096 tokens. However, you requested 64 output "
    "tokens and your prompt contains 5000 input tokens, for a total of 5064 tokens. Please "
    "reduce the length of the input prompt or the number of requested output tokens. "
    "(parameter=input_tokens, value=5000)"
)


async def test_case_54_every_error_is_in_the_envelope(api: Api) -> None:
    json_headers = {"Content-Type": "application/json"}
    cases: list[tuple[str, str, Any, dict[str, str] | None, int, str]] = [
        ("POST", "/v1/messages", b"{nope", None, 400, "invalid_request_error"),
        (
            "POST",
            "/v1/messages",
            body(),
            {**json_headers, "x-api-key": "wrong"},
            401,
            "authentication_error",
        ),
        ("POST", "/v1/messages", body(model="gpt-nope"), None, 404, "not_found_error"),
        ("POST", "/v1/messages/batches", body(), None, 404, "not_found_error"),
        ("GET", "/v1/messages", None, None, 405, "invalid_request_error"),
        ("POST", "/v1/messages", body(model="capped-x"), None, 529, "overloaded_error"),
        (
            "POST",
            "/v1/messages",
            body(content=sim(error={"status": 429, "message": "slow"})),
            None,
            429,
            "rate_limit_error",
        ),
        (
            "POST",
            "/v1/messages",
            body(content=sim(error={"status": 500, "message": "boom"})),
            None,
            500,
            "api_error",
        ),
    ]
    for method, path, payload, headers, status, error_type in cases:
        data = payload if isinstance(payload, bytes) else None
        reply = await api.request(
            method, path, None if data else payload, data=data, headers=headers
        )
        assert_error_envelope(reply, status, error_type)


@pytest.mark.parametrize(
    ("upstream_status", "status", "error_type"),
    [
        (400, 400, "invalid_request_error"),
        (404, 404, "not_found_error"),
        (422, 400, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (500, 500, "api_error"),
        (503, 529, "overloaded_error"),  # engine queue full / not ready: retried
    ],
)
async def test_case_55_upstream_statuses(
    api: Api, upstream_status: int, status: int, error_type: str
) -> None:
    spec = {"error": {"status": upstream_status, "message": f"upstream says {upstream_status}"}}
    reply = await api.message(body(content=sim(**spec)))
    error = assert_error_envelope(reply, status, error_type)
    assert f"upstream says {upstream_status}" in error["message"]
    if status == 529:
        assert reply.headers["Retry-After"].isdigit()
    # The same failure before the first byte of a stream is an HTTP error too.
    streamed = await api.stream(body(content=sim(**spec)))
    assert streamed.status == status and streamed.frames == []
    assert streamed.error is not None and streamed.error.status_code == status  # type: ignore[attr-defined]


async def test_case_55_connection_refused_is_529_then_the_model_comes_back(api: Api) -> None:
    # fragile wakes slowly: a streaming client gets its 200 and ": waking" comments first.
    streamed = await api.stream(body(model="fragile-1", content=sim(text="awake")))
    assert any(c.startswith("waking model=fragile") for c in streamed.comments), streamed.raw[:300]
    assert streamed.message is not None
    assert streamed.message.content[0].type == "text"
    started = [
        e for e in api.daemon.events_named("engine.child_started") if e["model"] == "fragile"
    ]
    await crash_server(int(started[-1]["pid"]))
    reply = await api.message(body(model="fragile-1"))
    error = assert_error_envelope(reply, 529, "overloaded_error")
    assert "not reachable" in error["message"]
    assert reply.headers["Retry-After"] == "5"
    # The daemon noticed the death; the retry Claude Code makes wakes a new server.
    await api.daemon.wait_state("fragile", "stopped", timeout=10)
    reply = await api.message(body(model="fragile-1", content=sim(text="back")))
    assert reply.status == 200, reply.text
    assert reply.json["content"] == [{"type": "text", "text": "back"}]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (VLLM_OVERFLOW, "prompt is too long: 5000 tokens > 4096 maximum"),
        (
            "The input (9000 tokens) is longer than the model's context length (8192 tokens).",
            "prompt is too long: 9000 tokens > 8192 maximum",
        ),
    ],
)
async def test_case_56_context_overflow_rewritten(api: Api, message: str, expected: str) -> None:
    reply = await api.message(body(content=sim(error={"status": 400, "message": message})))
    error = assert_error_envelope(reply, 400, "invalid_request_error")
    assert error["message"] == expected


async def test_case_56_real_overflow_of_a_small_context(api: Api) -> None:
    # The text recipe's context is 2048; the prompt alone is longer. max_tokens is clamped
    # (to 1) and the server's own rejection comes back in Anthropic's words, with its numbers.
    reply = await api.message(body(model="text-x", content="word " * 3000, max_tokens=32000))
    error = assert_error_envelope(reply, 400, "invalid_request_error")
    match = re.fullmatch(r"prompt is too long: (\d+) tokens > 2048 maximum", error["message"])
    assert match, error["message"]
    # N is the server's own count: the one /tokenize gave for the clamp.
    counts = [r["prompt_tokens"] for r in await api.sim_records("text", "/tokenize")]
    assert int(match.group(1)) == counts[-1]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (
            json.dumps(
                {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}
            ).encode(),
            "max_tokens",
        ),
        (json.dumps({"model": "claude-x", "max_tokens": 5}).encode(), "messages"),
        (json.dumps({"max_tokens": 5, "messages": []}).encode(), "model"),
        (json.dumps(body(max_tokens="many")).encode(), "max_tokens"),
    ],
    ids=["bad-json", "empty", "array", "no-max_tokens", "no-messages", "no-model", "bad-type"],
)
async def test_case_57_malformed_bodies_are_400_naming_the_field(
    api: Api, data: bytes, needle: str
) -> None:
    reply = await api.message({}, data=data)
    error = assert_error_envelope(reply, 400, "invalid_request_error")
    assert needle in error["message"]


async def test_case_58_failure_after_the_200_is_an_error_event(api: Api) -> None:
    streamed = await api.stream(body(content=sim(text="x" * 64, chunk_size=4, drop_after=5)))
    assert streamed.status == 200
    assert streamed.frames[-1].event == "error"
    assert streamed.frames[-1].data == {
        "type": "error",
        "error": {
            "type": "api_error",
            "message": "The model server closed the stream before the message was complete",
        },
        "request_id": streamed.request_id,
    }
    assert not streamed.named("message_delta")
    assert streamed.error is not None


async def test_case_58_failed_wake_after_keepalives_is_an_overloaded_event(api: Api) -> None:
    payload = body(model="broken-1", stream=True)
    reply = await api.message(payload)
    assert reply.status == 200
    frames, comments = parse_sse(reply.text.encode())
    assert comments and comments[0].startswith("waking model=broken")
    assert [f.event for f in frames] == ["error"]
    assert frames[0].data["error"]["type"] == "overloaded_error"
    assert "no weights" in frames[0].data["error"]["message"]
    assert frames[0].data["request_id"] == reply.request_id
    # Non-streaming clients wait silently, then get a 529 with Retry-After.
    reply = await api.message(body(model="broken-1"))
    assert_error_envelope(reply, 529, "overloaded_error")
    assert int(reply.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/complete"), ("POST", "/v1/messages/batches"), ("GET", "/v1/messages/batches")],
)
async def test_case_59_unknown_paths_are_404_in_the_anthropic_shape(
    api: Api, method: str, path: str
) -> None:
    reply = await api.request(method, path, body() if method == "POST" else None)
    error = assert_error_envelope(reply, 404, "not_found_error")
    assert path in error["message"]


async def test_hold_cap_over_is_529_with_retry_after(api: Api) -> None:
    reply = await api.message(body(model="capped-x"))
    error = assert_error_envelope(reply, 529, "overloaded_error")
    assert error["message"].startswith("Overloaded")
    assert int(reply.headers["Retry-After"]) >= 1
    streamed = await api.stream(body(model="capped-x"))
    assert streamed.status == 529 and streamed.error is not None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
    ],
    ids=["none", "wrong-key", "wrong-bearer", "not-bearer"],
)
async def test_missing_or_wrong_token_is_401(api: Api, headers: dict[str, str]) -> None:
    reply = await api.message(body(), headers={"Content-Type": "application/json", **headers})
    error = assert_error_envelope(reply, 401, "authentication_error")
    assert "token" in error["message"]
    counted = await api.post(
        "/v1/messages/count_tokens", body(), headers={"Content-Type": "application/json", **headers}
    )
    assert_error_envelope(counted, 401, "authentication_error")


async def test_the_openai_surface_keeps_its_own_401(api: Api) -> None:
    reply = await api.post(
        "/v1/chat/completions",
        {"model": "sim", "messages": []},
        headers={"Content-Type": "application/json", "Authorization": "Bearer wrong"},
    )
    assert reply.status == 401
    assert reply.json["error"]["type"] == "authentication_error"
    assert "type" not in reply.json  # OpenAI's envelope, not Anthropic's


async def test_second_client_token_is_accepted(api: Api) -> None:
    reply = await api.message(body(), headers=api.headers(token=BATCH_TOKEN))
    assert reply.status == 200
