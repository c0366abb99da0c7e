"""The Responses surface's HTTP behaviour beyond the checklist: listeners, validation, wakes,
keep-alive, upstream failures, disconnects, accounting."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.proxy.responses.http.support import (
    MODEL,
    TOKEN,
    Api,
    assert_openai_error,
    body,
    sim,
)
from tests.support.daemon import metric_value
from tests.support.processes import crash_server

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def test_the_codex_listener_serves_responses(api: Api) -> None:
    streamed = await api.stream(body(sim(text="via 8012")), base=api.daemon.codex_url)
    assert streamed.status == 200 and streamed.final.output_text == "via 8012"


@pytest.mark.parametrize(
    ("data", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"input": "x"}).encode(), 400, "model"),
        (json.dumps({"model": MODEL, "input": 5}).encode(), 400, "input"),
        (
            json.dumps({"model": MODEL, "input": [{"type": "function_call"}]}).encode(),
            400,
            "input.0.call_id",
        ),
        (
            json.dumps({"model": MODEL, "input": "x", "max_output_tokens": 0}).encode(),
            400,
            "max_output_tokens",
        ),
        (
            json.dumps({"model": MODEL, "input": "x", "tools": [{"type": "function"}]}).encode(),
            400,
            "tools.0.name",
        ),
        (
            json.dumps({"model": MODEL, "input": "x", "temperature": "hot"}).encode(),
            400,
            "temperature",
        ),
        (json.dumps({"model": "no-such-model", "input": "x"}).encode(), 404, "not served"),
    ],
    ids=[
        "bad-json",
        "empty",
        "array",
        "no-model",
        "bad-input",
        "bad-item",
        "zero-max",
        "nameless-tool",
        "bad-temperature",
        "unknown-model",
    ],
)
async def test_malformed_requests_are_4xx_in_the_openai_envelope(
    api: Api, data: bytes, status: int, needle: str
) -> None:
    reply = await api.post(None, data=data)
    error = assert_openai_error(reply, status)
    assert needle in error["message"], error
    if status == 404:
        assert error["code"] == "model_not_found" and error["param"] == "model"


async def test_body_over_the_limit_is_413_and_no_token_is_401(api: Api) -> None:
    big = json.dumps(body("x" * (5 * 1024 * 1024))).encode()
    assert_openai_error(await api.post(None, data=big), 413)
    reply = await api.post(body("hi"), headers={"Content-Type": "application/json"})
    assert_openai_error(reply, 401)


async def test_a_slow_prefill_gets_lifecycle_events_before_the_first_token(api: Api) -> None:
    # keepalive_interval is 0.3 s in the test config; the sim waits 1 s before its first chunk.
    streamed = await api.stream(body(sim(text="late", delay=1.0)))
    types = [p["type"] for p in streamed.payloads]
    assert types[:3] == ["response.created", "response.in_progress", "response.in_progress"]
    assert streamed.final.output_text == "late"


async def test_waking_model_gets_comments_then_answers(api: Api) -> None:
    streamed = await api.stream(body(sim(text="awake"), model="fragile-1"))
    assert any(c.startswith("waking model=fragile") for c in streamed.comments), streamed.raw[:300]
    assert streamed.final.output_text == "awake"
    # Killed under the daemon: connection refused is a 503 Codex retries after Retry-After.
    started = [
        e for e in api.daemon.events_named("engine.child_started") if e["model"] == "fragile"
    ]
    await crash_server(int(started[-1]["pid"]))
    reply = await api.post(body("x", model="fragile-1", stream=True))
    error = assert_openai_error(reply, 503)
    assert "not reachable" in error["message"]
    assert reply.headers["Retry-After"] == "5"
    await api.daemon.wait_state("fragile", "stopped", timeout=10)
    again = await api.post(body(sim(text="back"), model="fragile-1", stream=False))
    assert again.status == 200 and again.json["output"][0]["content"][0]["text"] == "back"


async def test_failed_wake_is_response_failed_after_the_comments(api: Api) -> None:
    streamed = await api.stream(body("x", model="broken-1"))
    assert streamed.status == 200
    assert streamed.comments and streamed.comments[0].startswith("waking model=broken")
    assert [p["type"] for p in streamed.payloads] == [
        "response.created",
        "response.in_progress",
        "response.failed",
    ]
    error = streamed.terminal["error"]
    assert error["code"] == "server_error" and "no weights" in error["message"]
    assert streamed.final is None and streamed.error is not None  # no completed response
    # Non-streaming clients wait silently, then get a 503 with Retry-After.
    silent = await api.post(body("x", model="broken-1", stream=False))
    assert_openai_error(silent, 503)
    assert int(silent.headers["Retry-After"]) >= 1


async def test_hold_cap_is_503_with_retry_after(api: Api) -> None:
    reply = await api.post(body("x", model="capped-x", stream=True))
    error = assert_openai_error(reply, 503, "hold_cap")
    assert error["type"] == "service_unavailable"
    assert int(reply.headers["Retry-After"]) >= 1


async def test_a_client_that_hangs_up_aborts_the_upstream_request(api: Api) -> None:
    payload = body(sim(text="x" * 400, chunk_size=1, tokens_per_second=100), stream=True)
    url = api.url + "/v1/responses"
    async with api.session.post(url, json=payload, headers=api.headers()) as r:
        assert r.status == 200
        request_id = r.headers["request-id"]
        # Past any ": waking" comments: the first text delta means the sim is generating.
        while b"output_text.delta" not in await r.content.readline():
            pass
    record = await api.wait_upstream_status(request_id, "aborted")
    assert record["chunks_sent"] < 400


async def test_requests_are_counted_by_surface(api: Api) -> None:
    streamed = await api.stream(body(sim(text="count me")))
    assert streamed.status == 200
    text = await api.daemon.metrics()
    assert metric_value(text, "autosred_requests_total", api="responses", status="200") >= 1
    assert metric_value(text, "autosred_tokens_total", client="codex", direction="output") >= 1


async def test_sdk_errors_for_http_failures(api: Api) -> None:
    streamed = await api.stream(body("x", model="capped-x"))
    assert streamed.status == 503 and streamed.payloads == []
    assert streamed.error is not None


async def test_parallel_tool_calls_false_keeps_only_the_first_call(api: Api) -> None:
    calls = [
        {"name": "exec_command", "arguments": {"cmd": "a"}},
        {"name": "exec_command", "arguments": {"cmd": "b"}},
    ]
    tool = {"type": "function", "name": "exec_command", "parameters": {"type": "object"}}
    streamed = await api.stream(
        body(sim(tool_calls=calls), tools=[tool], parallel_tool_calls=False)
    )
    assert [json.loads(i["arguments"]) for i in streamed.terminal["output"]] == [{"cmd": "a"}]
    assert (await api.sent(streamed.request_id))["parallel_tool_calls"] is False
    both = await api.stream(body(sim(tool_calls=calls), tools=[tool]))
    assert len(both.terminal["output"]) == 2


async def test_bearer_token_of_codex_env_key_is_accepted(api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            api.url + "/v1/responses",
            json=body(sim(text="ok"), stream=False),
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status == 200
