"""Streams start at once (docs/conformance.md, case 24): once the model is ready and its
server answered 200, the client has its 200 and the first event of its surface within a
moment, then a keep-alive every ``scaler.keepalive_interval`` until the first token, on every
surface.

The simulated server sends its 200 headers, then nothing for ``STALL`` seconds (a long
prefill). Arrival times are read at the client, through real sockets, with bounds generous
enough for a loaded machine yet well short of the first keep-alive tick, which is when a stream
that waited for the first byte would open.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest
import pytest_asyncio

from tests.proxy.flow.conftest import KEEPALIVE_INTERVAL
from tests.proxy.flow.timing import Arrival, TimedStream, timed_stream
from tests.support.daemon import Daemon

pytestmark = pytest.mark.asyncio(loop_scope="package")

STALL = 4.0
"""Seconds between the upstream's 200 headers and its first chunk."""
AT_ONCE = 1.0
"""The bound on "at once": generous for a busy test machine, well below KEEPALIVE_INTERVAL."""


def prompt(text: str) -> str:
    return "#sim " + json.dumps({"text": text, "delay": STALL})


@pytest_asyncio.fixture(loop_scope="package")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def assert_keepalives(ticks: list[Arrival], opened_at: float) -> None:
    """Keep-alives after the opening, one every KEEPALIVE_INTERVAL (not sooner), while the
    first token is awaited."""
    assert ticks, "no keep-alive during the stall"
    previous = opened_at
    for tick in ticks:
        assert tick.at - previous >= 0.8 * KEEPALIVE_INTERVAL, (tick, previous)
        previous = tick.at


def assert_stalled(first_output: Arrival) -> None:
    """The first token came when the simulated prefill ended (so the stall was real)."""
    assert first_output.at >= STALL - 0.5, first_output


async def test_messages_stream_opens_at_once_then_pings(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    body = {
        "model": "claude-sonnet-5",
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": prompt("after a long prefill")}],
    }
    stream = await timed_stream(
        session, f"{daemon.api_url}/v1/messages", body, **{"anthropic-version": "2023-06-01"}
    )
    assert stream.status == 200
    assert stream.headers_at < AT_ONCE
    opening = stream.arrivals[0]
    assert (opening.event, stream.arrivals[1].event) == ("message_start", "ping")
    assert opening.at < AT_ONCE
    waiting = stream.before("content_block_start")
    assert {arrival.event for arrival in waiting} == {"message_start", "ping"}
    assert_keepalives(waiting[2:], opening.at)
    assert_stalled(stream.first("content_block_start"))
    assert stream.arrivals[-1].event == "message_stop"


async def test_responses_stream_opens_at_once_then_keeps_alive(daemon: Daemon) -> None:
    client = openai.AsyncOpenAI(base_url=daemon.api_url + "/v1", api_key="-", max_retries=0)
    # The SDK builds its event models on first use (about a second of CPU): not the daemon's
    # time, so a quick stream first.
    async for _ in await client.responses.create(model="gpt-5.5", input="warm", stream=True):
        pass
    sent = time.monotonic()
    events = await client.responses.create(
        model="gpt-5.5", input=prompt("after a long prefill"), stream=True
    )
    headers_at = time.monotonic() - sent
    arrivals = []
    async for event in events:
        arrivals.append(Arrival(time.monotonic() - sent, event.type, event))
    stream = TimedStream(200, headers_at, arrivals)
    assert stream.headers_at < AT_ONCE
    opening = stream.arrivals[0]
    assert (opening.event, stream.arrivals[1].event) == ("response.created", "response.in_progress")
    assert opening.at < AT_ONCE
    waiting = stream.before("response.output_item.added")
    assert {arrival.event for arrival in waiting[2:]} == {"response.in_progress"}
    assert_keepalives(waiting[2:], opening.at)
    assert_stalled(stream.first("response.output_item.added"))
    assert stream.arrivals[-1].event == "response.completed"


async def test_chat_completions_stream_has_its_200_at_once_then_comments(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    body = {
        "model": "gpt-5.5",
        "stream": True,
        "messages": [{"role": "user", "content": prompt("after a long prefill")}],
    }
    stream = await timed_stream(session, f"{daemon.api_url}/v1/chat/completions", body)
    assert stream.status == 200
    assert stream.headers_at < AT_ONCE
    waiting = stream.before("chat.completion.chunk")
    assert {arrival.event for arrival in waiting} == {":"}
    assert_keepalives(waiting, 0.0)
    assert_stalled(stream.first("chat.completion.chunk"))
    assert stream.arrivals[-1].event == "[DONE]"
