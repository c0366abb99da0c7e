"""OpenAI pass-through on the api listener, through the real daemon and autosred-sim."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio

from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_BODY = 64 * 1024


def directive(**spec: object) -> str:
    return "#sim " + json.dumps(spec)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("passthrough")
    recipe = sim_recipe(max_model_len=4096, sim_args=["--max-model-len", "4096"])
    config = base_config(tmp_path, [recipe], api={"max_body_bytes": MAX_BODY})
    async with running_daemon(tmp_path, config) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def client(daemon: Daemon) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=daemon.api_url + "/v1", api_key="unused", max_retries=0)


async def post(
    session: aiohttp.ClientSession, daemon: Daemon, path: str, data: bytes | str
) -> tuple[int, dict[str, Any]]:
    async with session.post(
        daemon.api_url + path, data=data, headers={"Content-Type": "application/json"}
    ) as response:
        return response.status, await response.json()


async def test_openai_sdk_streams_a_reply_by_alias(daemon: Daemon) -> None:
    stream = await client(daemon).chat.completions.create(
        model="sim-glob-anything",
        messages=[{"role": "user", "content": directive(text="streamed through autosred")}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage = "", None
    async for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
        usage = chunk.usage or usage
    assert text == "streamed through autosred"
    assert usage is not None and usage.completion_tokens > 0


async def test_openai_sdk_non_streaming_and_tool_calls(daemon: Daemon) -> None:
    spec = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}]}
    reply = await client(daemon).chat.completions.create(
        model="sim",
        messages=[{"role": "user", "content": directive(**spec)}],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
    )
    calls = reply.choices[0].message.tool_calls
    assert calls is not None
    call = calls[0]
    assert isinstance(call, openai.types.chat.ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo", "days": 3}
    assert reply.choices[0].finish_reason == "tool_calls"


async def test_completions_endpoint_is_relayed(daemon: Daemon) -> None:
    reply = await client(daemon).completions.create(
        model="sim-alias", prompt="Say something", max_tokens=8
    )
    assert reply.choices[0].text


async def test_model_is_rewritten_to_the_served_name(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    body = {"model": "sim-alias", "messages": [{"role": "user", "content": "which model?"}]}
    status, _ = await post(session, daemon, "/v1/chat/completions", json.dumps(body))
    assert status == 200
    endpoint = (await daemon.model("sim"))["endpoint"]
    async with session.get(f"{endpoint}/sim/requests") as listing:
        records = await listing.json()
    assert records[-1]["body"]["model"] == "sim-served"
    assert records[-1]["body"]["messages"] == body["messages"]


async def test_malformed_json_is_a_400_in_the_openai_envelope(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    status, body = await post(session, daemon, "/v1/chat/completions", "{not json")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in body["error"]["message"]


async def test_missing_model_is_a_400(daemon: Daemon, session: aiohttp.ClientSession) -> None:
    status, body = await post(session, daemon, "/v1/chat/completions", json.dumps({"messages": []}))
    assert status == 400
    assert body["error"]["param"] == "model"


async def test_unknown_model_is_a_404_listing_the_names(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    data = json.dumps({"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]})
    status, body = await post(session, daemon, "/v1/chat/completions", data)
    assert status == 404
    assert "gpt-nope" in body["error"]["message"]
    assert "sim-alias" in body["error"]["message"] and "sim-served" in body["error"]["message"]


async def test_body_over_the_limit_is_a_413(daemon: Daemon, session: aiohttp.ClientSession) -> None:
    data = json.dumps({"model": "sim", "messages": [{"role": "user", "content": "a" * MAX_BODY}]})
    status, body = await post(session, daemon, "/v1/chat/completions", data)
    assert status == 413
    assert "error" in body


async def test_upstream_errors_keep_their_status_and_envelope(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    spec = {"error": {"status": 422, "message": "the sim refuses"}}
    data = json.dumps(
        {"model": "sim", "messages": [{"role": "user", "content": directive(**spec)}]}
    )
    status, body = await post(session, daemon, "/v1/chat/completions", data)
    assert status == 422
    assert body["error"]["message"] == "the sim refuses"


async def test_context_overflow_from_the_upstream_is_relayed(daemon: Daemon) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client(daemon).chat.completions.create(
            model="sim", messages=[{"role": "user", "content": "hi"}], max_tokens=100_000
        )
    assert caught.value.status_code == 400
    assert "4096" in str(caught.value)


async def test_models_lists_the_client_facing_names(daemon: Daemon) -> None:
    models = await client(daemon).models.list()
    ids = [model.id for model in models.data]
    assert ids == ["sim", "sim-served", "sim-alias"]


async def test_head_root_and_health_answer_200(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    async with session.head(daemon.api_url + "/") as response:
        assert response.status == 200
    async with session.get(daemon.api_url + "/health") as response:
        assert response.status == 200
        assert (await response.json())["models"]["sim"] in {"stopped", "ready", "starting"}


async def test_codex_listener_serves_the_same_app(daemon: Daemon) -> None:
    codex = openai.AsyncOpenAI(base_url=daemon.codex_url + "/v1", api_key="unused", max_retries=0)
    reply = await codex.chat.completions.create(
        model="sim", messages=[{"role": "user", "content": directive(text="via codex port")}]
    )
    assert reply.choices[0].message.content == "via codex port"


async def test_metrics_count_requests_by_api_model_and_status(daemon: Daemon) -> None:
    await client(daemon).chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "count me"}]
    )
    text = await daemon.metrics()
    assert 'autosred_requests_total{api="openai",model="sim",status="200"}' in text
    assert "autosred_time_to_first_byte_seconds_bucket" in text
    assert 'autosred_engine_state{model="sim",state="ready"} 1.0' in text
