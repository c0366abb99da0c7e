"""``api.upstream_read_timeout`` is an idle deadline: a model server silent that long mid-stream
fails the request with the surface's "stopped responding" error, in the stream, and its
connection is closed (the simulator records the request aborted); a slow stream whose every
gap is shorter lives as long as it takes, on every surface.

The simulator is real (``hang_after``: N chunks, then silence until the client goes away;
``tokens_per_second``: pacing). Arrival times are read at the client; the bounds are the
deadline itself (a failure never comes sooner) and a generous margin after it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.proxy.flow.timing import Arrival, TimedStream, timed_stream
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio(loop_scope="module")

READ_TIMEOUT = 1.5
"""``api.upstream_read_timeout`` of this module's daemon, in seconds."""
MARGIN = 5.0
"""How long after the deadline the failure may come on a loaded test machine."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Daemon]:
    tmp_path = tmp_path_factory.mktemp("silence")
    recipe = sim_recipe(aliases=["claude-*", "gpt-*"], sim_args=["--max-model-len", "8192"])
    config = base_config(
        tmp_path,
        [recipe],
        api={"listen": "127.0.0.1:0", "upstream_read_timeout": READ_TIMEOUT},
        scaler={"keepalive_interval": 30},  # no keep-alive in these streams
    )
    async with running_daemon(tmp_path, config) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def prompt(**spec: Any) -> str:
    return "#sim " + json.dumps(spec)


async def messages(daemon: Daemon, session: aiohttp.ClientSession, text: str) -> TimedStream:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }
    url = f"{daemon.api_url}/v1/messages"
    return await timed_stream(session, url, body, **{"anthropic-version": "2023-06-01"})


async def responses(daemon: Daemon, session: aiohttp.ClientSession, text: str) -> TimedStream:
    body = {"model": "gpt-5", "stream": True, "input": text}
    return await timed_stream(session, f"{daemon.api_url}/v1/responses", body)


async def chat(daemon: Daemon, session: aiohttp.ClientSession, text: str) -> TimedStream:
    body = {"model": "sim", "stream": True, "messages": [{"role": "user", "content": text}]}
    return await timed_stream(session, f"{daemon.api_url}/v1/chat/completions", body)


def delta_text(arrival: Arrival) -> str:
    """The text an arrival carries, on any of the three surfaces ("" for other events)."""
    data = arrival.data
    if arrival.event == "content_block_delta":
        return str(data["delta"].get("text", ""))
    if arrival.event == "response.output_text.delta":
        return str(data["delta"])
    if arrival.event == "chat.completion.chunk" and data["choices"]:
        return str(data["choices"][0]["delta"].get("content") or "")
    return ""


def texts(stream: TimedStream) -> list[Arrival]:
    """The arrivals that carry text."""
    return [arrival for arrival in stream.arrivals if delta_text(arrival)]


async def upstream_record(daemon: Daemon, session: aiohttp.ClientSession, marker: str) -> Any:
    """The simulator's record of the request whose body holds ``marker``, once it ended."""
    endpoint = (await daemon.model("sim"))["endpoint"]
    url = f"{endpoint}/sim/requests"
    async with session.get(url, params={"path": "/v1/chat/completions"}) as listing:
        records = await listing.json()
    (record,) = [r for r in records if marker in json.dumps(r["body"])]
    async with session.get(f"{url}/{record['id']}", params={"wait": "finished"}) as ended:
        assert ended.status == 200, await ended.text()
        return await ended.json()


SURFACES = {"messages": messages, "responses": responses, "chat": chat}


def failed_silent(surface: str, stream: TimedStream) -> bool:
    """Whether ``stream`` ended with ``surface``'s "the model server stopped responding"."""
    last = stream.arrivals[-1]
    if surface == "messages":
        return last.event == "error" and last.data["error"]["message"] == (
            "The model server stopped responding"
        )
    if surface == "responses" and last.event != "response.failed":
        return False
    return "stopped responding" in json.dumps(last.data)


@pytest.mark.parametrize("surface", sorted(SURFACES))
async def test_a_server_silent_mid_stream_fails_it_at_the_deadline(
    daemon: Daemon, session: aiohttp.ClientSession, surface: str
) -> None:
    marker = f"silent-{surface}"
    text = prompt(text=f"{marker} one two three four five six", chunk_size=4, hang_after=2)
    async with asyncio.timeout(READ_TIMEOUT + 2 * MARGIN):  # a deadline that never fires
        stream = await SURFACES[surface](daemon, session, text)
    assert stream.status == 200
    deltas = texts(stream)
    assert "".join(map(delta_text, deltas)) == marker[:8], stream.arrivals  # 2 chunks, then
    assert failed_silent(surface, stream), stream.arrivals[-3:]
    silent_from, failed_at = deltas[-1].at, stream.arrivals[-1].at
    assert failed_at - silent_from >= READ_TIMEOUT - 0.1, (silent_from, failed_at)
    assert failed_at - silent_from < READ_TIMEOUT + MARGIN, (silent_from, failed_at)
    record = await upstream_record(daemon, session, marker)
    assert record["status"] == "aborted", record  # the daemon closed the upstream connection


@pytest.mark.parametrize("surface", sorted(SURFACES))
async def test_a_slow_stream_lives_longer_than_the_deadline(
    daemon: Daemon, session: aiohttp.ClientSession, surface: str
) -> None:
    marker = f"slow-{surface}"
    # 12 chunks at 4 a second: 3 s in all, twice the deadline, every gap a quarter of a second.
    answer = (marker + "-" + "x" * 48)[:48]
    text = prompt(text=answer, chunk_size=4, tokens_per_second=4)
    stream = await SURFACES[surface](daemon, session, text)
    assert stream.status == 200
    assert "".join(map(delta_text, texts(stream))) == answer
    assert stream.arrivals[-1].at > 2 * READ_TIMEOUT - 0.5  # it did outlive the deadline
    assert not any(a.event in ("error", "response.failed") for a in stream.arrivals)
    record = await upstream_record(daemon, session, marker)
    assert record["status"] == "completed", record


async def test_a_server_silent_before_its_head_is_a_504_at_the_deadline(
    daemon: Daemon, session: aiohttp.ClientSession
) -> None:
    """A non-streamed answer the server never starts (the simulator stalls before any
    response): the deadline covers the wait for the head too, and the client hears the
    surface's "stopped responding" (it was a 500 from an uncaught read timeout before the
    relay had its own client)."""
    marker = "silent-head"
    body = {
        "model": "sim",
        "stream": False,
        "messages": [{"role": "user", "content": prompt(text=marker, hang_after=0)}],
    }
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(READ_TIMEOUT + 2 * MARGIN):
        async with session.post(f"{daemon.api_url}/v1/chat/completions", json=body) as answer:
            status, payload = answer.status, await answer.json()
    waited = loop.time() - started
    assert status == 504, payload
    assert payload["error"]["message"] == "the model server stopped responding", payload
    assert READ_TIMEOUT - 0.1 <= waited < READ_TIMEOUT + MARGIN, waited
    record = await upstream_record(daemon, session, marker)
    assert record["status"] == "aborted", record  # the daemon closed the upstream connection
