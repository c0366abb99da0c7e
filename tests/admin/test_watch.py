"""GET /v1/watch over a real Unix socket, with a real HTTP client and the FakeControl."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autosred.admin.control import ControlError
from autosred.admin.schema import (
    NDJSON,
    WATCH_INTERVAL_MAX,
    WATCH_INTERVAL_MIN,
    ApiError,
    RequestRecord,
    WatchLine,
    parse_watch_line,
)
from autosred.admin.watch import watch_interval

from .fake_control import FakeControl
from .support import Served, serve

BASE = "http://admin"
DEADLINE = 10.0


@pytest.fixture
async def http(served: Served) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.UnixConnector(path=str(served.path))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def _line(response: aiohttp.ClientResponse) -> WatchLine | ApiError:
    async with asyncio.timeout(DEADLINE):
        raw = await response.content.readline()
    assert raw.endswith(b"\n"), f"the stream ended: {raw!r}"
    return parse_watch_line(json.loads(raw))


def _record(status: str = "200") -> RequestRecord:
    return RequestRecord(
        at=time.time(),
        surface="anthropic",
        client="laptop",
        model="small",
        status=status,
        ttfb_seconds=0.25,
        tokens_in=1200,
        tokens_out=80,
        duration_seconds=1.5,
    )


async def test_frames_come_every_interval_with_every_model(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{BASE}/v1/watch", params={"interval": "0.1"}) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == NDJSON
        frames = []
        for _ in range(3):
            line = await _line(response)
            assert isinstance(line, WatchLine) and line.frame is not None
            frames.append(line.frame)
    assert [(m.name, m.state) for m in frames[0].models] == [
        ("qwen", "stopped"),
        ("small", "ready"),
        ("broken", "stopped"),
    ]
    small = frames[0].models[1]
    assert (small.in_flight, small.held, small.idle_left_seconds) == (2, 1, 250.0)
    assert frames[0].at <= frames[1].at <= frames[2].at


async def test_a_finished_request_is_sent_at_once_and_kept_in_frames(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    # A long interval: the request line cannot be a frame's doing.
    async with http.get(f"{BASE}/v1/watch", params={"interval": "60"}) as response:
        first = await _line(response)
        assert isinstance(first, WatchLine) and first.frame is not None
        assert first.frame.requests == []
        async with asyncio.timeout(DEADLINE):
            while fake.request_watchers == 0:
                await asyncio.sleep(0.01)
        record = _record("529")
        fake.request_done(record)
        line = await _line(response)
        assert isinstance(line, WatchLine)
        assert line.frame is None and line.request == record
    assert (await fake.watch_frame()).requests == [record]


async def test_a_watcher_leaving_unsubscribes(
    http: aiohttp.ClientSession, fake: FakeControl
) -> None:
    async with http.get(f"{BASE}/v1/watch") as response:
        await _line(response)
        async with asyncio.timeout(DEADLINE):
            while fake.request_watchers == 0:
                await asyncio.sleep(0.01)
    async with asyncio.timeout(DEADLINE):
        while fake.request_watchers:
            fake.request_done(_record())  # the write that finds the watcher gone
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("interval", ["0", "0.05", "61", "nan", "inf", "-1", "abc", ""])
async def test_an_interval_out_of_bounds_is_a_bad_request(
    http: aiohttp.ClientSession, interval: str
) -> None:
    async with http.get(f"{BASE}/v1/watch", params={"interval": interval}) as response:
        assert response.status == 400
        error = ApiError.from_json(json.loads(await response.read()))
    assert error.type == "bad_request"
    assert "interval must be a number of seconds from 0.1 to 60" in error.message


async def test_shutdown_ends_the_stream_with_an_error_line(fake: FakeControl) -> None:
    async with serve(fake) as served:
        connector = aiohttp.UnixConnector(path=str(served.path))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"{BASE}/v1/watch", params={"interval": "60"}) as response:
                await _line(response)
                await served.runner.shutdown()
                line = await _line(response)
                assert isinstance(line, ApiError) and line.type == "unavailable"
                async with asyncio.timeout(DEADLINE):
                    assert await response.content.read() == b""


@given(st.text(max_size=12) | st.floats().map(str) | st.integers().map(str))
def test_any_interval_is_a_bounded_number_or_a_bad_request(raw: str) -> None:
    try:
        value = watch_interval({"interval": raw})
    except ControlError as exc:
        assert (exc.status, exc.type) == (400, "bad_request")
        assert repr(raw) in exc.message
    else:
        assert WATCH_INTERVAL_MIN <= value <= WATCH_INTERVAL_MAX
    assert watch_interval({}) == 1.0
