"""The admin app over a real Unix socket, with a real HTTP client and the FakeControl."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from autosred.admin.schema import (
    NDJSON,
    PACKAGE_VERSION,
    ApiError,
    ModelList,
    ModelStatus,
    Progress,
    ScaleDone,
    Status,
    parse_scale_line,
)

from .fake_control import FakeControl
from .support import Served

BASE = "http://admin"


@pytest.fixture
async def http(served: Served) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.UnixConnector(path=str(served.path))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def _json(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


def _error(body: Any) -> ApiError:
    error = ApiError.from_json(body)
    assert set(body) == {"error"}, "the envelope carries nothing else"
    return error


async def test_version(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v1/version") as response:
        assert response.status == 200
        assert await _json(response) == {"version": PACKAGE_VERSION, "api_version": 1}


async def test_status_round_trips_through_the_schema(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v1/status") as response:
        assert response.status == 200
        status = Status.from_json(await _json(response))
    assert status.version == "0.0.0-fake"
    assert status.listeners["api"] == "127.0.0.1:8011"
    assert [(m.name, m.state) for m in status.models] == [
        ("qwen", "stopped"),
        ("small", "ready"),
        ("broken", "stopped"),
    ]
    assert status.models[1].in_flight == 2


async def test_models_and_one_model(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v1/models") as response:
        models = ModelList.from_json(await _json(response)).models
    assert [m.name for m in models] == ["qwen", "small", "broken"]
    async with http.get(f"{BASE}/v1/models/small") as response:
        assert response.status == 200
        assert ModelStatus.from_json(await _json(response)).idle_in_seconds == 250.0


async def test_unknown_model_is_404_listing_the_names(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v1/models/nope") as response:
        assert response.status == 404
        error = _error(await _json(response))
    assert error.type == "not_found"
    assert "'nope'" in error.message
    assert "broken, qwen, small" in error.message

    body = {"direction": "up", "wait": True}
    async with http.post(f"{BASE}/v1/models/nope/scale", json=body) as response:
        # Refused before the stream starts: a plain 404, not a 200 with an error line.
        assert response.status == 404
        assert response.content_type == "application/json"
        assert _error(await _json(response)).type == "not_found"


async def test_unknown_route_and_method_use_the_envelope(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v2/nothing") as response:
        assert response.status == 404
        assert _error(await _json(response)).type == "not_found"
    async with http.delete(f"{BASE}/v1/status") as response:
        assert response.status == 405
        assert _error(await _json(response)).type == "method_not_allowed"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"direction": "sideways"}', "'up', 'down' or 'switch'"),
        (b'{"direction": "up", "wait": "yes"}', "wait"),
        (b"[]", "expected an object"),
    ],
)
async def test_bad_scale_body_is_400(http: aiohttp.ClientSession, body: bytes, needle: str) -> None:
    async with http.post(f"{BASE}/v1/models/qwen/scale", data=body) as response:
        assert response.status == 400
        error = _error(await _json(response))
    assert error.type == "bad_request"
    assert needle in error.message


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"dry_run": "yes"}', "dry_run"),
        (b'{"force": 1}', "force"),
        (b"[]", "expected an object"),
    ],
)
async def test_bad_recipe_apply_body_is_400(
    http: aiohttp.ClientSession, body: bytes, needle: str
) -> None:
    async with http.post(f"{BASE}/v1/recipes/qwen/apply", data=body) as response:
        assert response.status == 400
        error = _error(await _json(response))
    assert error.type == "bad_request"
    assert needle in error.message


async def test_scale_up_without_wait_answers_once_and_the_wake_goes_on(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    body = {"direction": "up", "wait": False}
    async with http.post(f"{BASE}/v1/models/qwen/scale", json=body) as response:
        assert response.status == 200
        progress = Progress.from_json(await _json(response))
    assert (progress.model, progress.state) == ("qwen", "starting")
    assert fake.watchers("qwen") == 0, "the app closed the progress iterator"
    await fake.settled("qwen")
    assert fake.model("qwen").status.state == "ready"


async def _scale_stream(http: aiohttp.ClientSession, model: str, direction: str) -> list[Any]:
    body = {"direction": direction, "wait": True}
    async with http.post(f"{BASE}/v1/models/{model}/scale", json=body) as response:
        assert response.status == 200
        assert response.content_type == NDJSON
        return [json.loads(line) async for line in response.content if line.strip()]


async def test_scale_up_wait_streams_progress_then_ok(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    lines = [parse_scale_line(r) for r in await _scale_stream(http, "qwen", "up")]
    progress = [line for line in lines[:-1] if isinstance(line, Progress)]
    assert len(progress) == len(lines) - 1
    assert [p.phase for p in progress] == [
        "requested",
        "scheduling",
        "pulling image",
        "loading weights",
        None,
    ]
    assert progress[-1].state == "ready"
    final = lines[-1]
    assert isinstance(final, ScaleDone)
    assert (final.model, final.state) == ("qwen", "ready")
    assert fake.wakes["qwen"] == 1


async def test_scale_up_of_a_ready_model_is_done_at_once(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    lines = [parse_scale_line(r) for r in await _scale_stream(http, "small", "up")]
    assert [type(line) for line in lines] == [Progress, ScaleDone]
    assert fake.wakes["small"] == 0


async def test_failed_wake_ends_the_stream_with_the_error(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    records = await _scale_stream(http, "broken", "up")
    final = parse_scale_line(records[-1])
    assert isinstance(final, ApiError)
    assert final.type == "wake_failed"
    assert "ImagePullBackOff" in final.message
    assert fake.model("broken").status.state == "failed"


async def test_scale_down_drains_then_stops(http: aiohttp.ClientSession, fake: FakeControl) -> None:
    fake.finish_requests("small")
    lines = [parse_scale_line(r) for r in await _scale_stream(http, "small", "down")]
    assert [getattr(line, "state", None) for line in lines] == [
        "stopping",
        "stopping",
        "stopped",
        "stopped",
    ]
    assert isinstance(lines[-1], ScaleDone)


async def test_a_client_leaving_a_wait_does_not_stop_the_wake(
    served: Served, fake: FakeControl
) -> None:
    fake.model("qwen").hold_at = "pulling image"
    connector = aiohttp.UnixConnector(path=str(served.path))
    async with aiohttp.ClientSession(connector=connector) as session:
        body = {"direction": "up", "wait": True}
        async with session.post(f"{BASE}/v1/models/qwen/scale", json=body) as response:
            async for line in response.content:
                if json.loads(line).get("phase") == "pulling image":
                    break
        # The response and the session are closed here, mid-stream.
    fake.model("qwen").release.set()
    await fake.settled("qwen")
    assert fake.model("qwen").status.state == "ready"
    assert fake.wakes["qwen"] == 1


async def test_reload_reports_the_result(http: aiohttp.ClientSession, fake: FakeControl) -> None:
    async with http.post(f"{BASE}/v1/reload") as response:
        assert response.status == 200
        assert await _json(response) == {
            "ok": True,
            "messages": ["config ok"],
            "models": ["qwen", "small", "broken"],
        }


async def test_a_bug_in_the_daemon_is_a_500_envelope_and_a_log_line(
    http: aiohttp.ClientSession, fake: FakeControl, caplog: pytest.LogCaptureFixture
) -> None:
    fake.status_error = RuntimeError("boom")
    with caplog.at_level(logging.ERROR, logger="tests.admin"):
        async with http.get(f"{BASE}/v1/status") as response:
            assert response.status == 500
            error = _error(await _json(response))
    assert error.type == "internal"
    assert "boom" not in error.message, "internals stay in the log"
    assert [r.msg for r in caplog.records] == ["admin.handler_failed"]
