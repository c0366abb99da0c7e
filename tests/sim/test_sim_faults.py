"""Failure and timing injection: drop_after, hang_after + disconnect, delay, pacing."""

from __future__ import annotations

import json
import time

import aiohttp
import openai
import pytest
from aiohttp import web

from autosred.sim import SimConfig, SimHandle, make_app, running_sim

from .helpers import MODEL, directive, read_partial_sse, user


def _chat(spec: str, *, stream: bool = True) -> dict[str, object]:
    return {"model": MODEL, "messages": user(spec), "stream": stream}


async def _wait_status(
    http: aiohttp.ClientSession, sim: SimHandle, request_id: str, status: str
) -> dict[str, object]:
    url = f"{sim.url}/sim/requests/{request_id}?wait={status}&timeout=5"
    async with http.get(url) as response:
        record: dict[str, object] = await response.json()
        assert response.status == 200, record
    return record


async def test_drop_after_cuts_the_stream_without_done(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    spec = directive(text="abcdefghijklmnop", chunk_size=4, drop_after=2)
    async with http.post(sim.url + "/v1/chat/completions", json=_chat(spec)) as response:
        assert response.status == 200
        events, clean = await read_partial_sse(response)

    assert not clean
    assert "[DONE]" not in events
    contents = [json.loads(event)["choices"][0]["delta"].get("content") for event in events]
    assert contents == ["", "abcd", "efgh"]
    record = sim.requests()[-1]
    assert record["status"] == "failed"
    assert record["chunks_sent"] == 2


async def test_drop_after_surfaces_as_a_connection_error_in_the_sdk(
    oai: openai.AsyncOpenAI,
) -> None:
    received: list[str] = []
    stream = await oai.chat.completions.create(
        model=MODEL, messages=user(directive(text="x" * 40, drop_after=3)), stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "x" * 12


async def test_drop_after_on_a_plain_request_closes_before_answering(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(
            sim.url + "/v1/chat/completions", json=_chat(directive(drop_after=0), stream=False)
        ) as response:
            await response.read()
    assert sim.requests()[-1]["status"] == "failed"


async def test_hang_after_then_client_disconnect_is_recorded_as_aborted(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    spec = directive(text="abcdefghijklmnop", chunk_size=4, hang_after=2)
    response = await http.post(sim.url + "/v1/chat/completions", json=_chat(spec))
    request_id = response.headers["X-Sim-Request-Id"]
    seen = b""
    while seen.count(b"\n\n") < 3:  # role chunk + the 2 content chunks, then it stalls
        seen += await response.content.readany()
    assert sim.requests()[-1]["status"] == "running"

    response.close()  # the client walks away mid-stream

    record = await _wait_status(http, sim, request_id, "aborted")
    assert record["status"] == "aborted"
    assert record["chunks_sent"] == 2
    assert b"[DONE]" not in seen


async def test_sdk_stream_closed_early_reaches_the_server_as_an_abort(
    sim: SimHandle, oai: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    stream = await oai.chat.completions.create(
        model=MODEL, messages=user(directive(text="y" * 400, hang_after=5)), stream=True
    )
    async for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    await stream.close()
    request_id = str(sim.requests()[-1]["id"])
    record = await _wait_status(http, sim, request_id, "aborted")
    assert record["status"] == "aborted"


async def test_wait_times_out_with_408_when_the_status_never_comes(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    async with http.post(sim.url + "/v1/chat/completions", json=_chat("hi")) as response:
        await response.read()
    request_id = sim.requests()[-1]["id"]
    async with http.get(f"{sim.url}/sim/requests/{request_id}?wait=aborted&timeout=0.2") as r:
        assert r.status == 408
        assert (await r.json())["status"] == "completed"
    async with http.get(f"{sim.url}/sim/requests/999?wait=finished&timeout=0.1") as r:
        assert r.status == 404


async def test_delay_holds_the_first_chunk_not_the_headers(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    async with http.post(
        sim.url + "/v1/chat/completions", json=_chat(directive(text="late", delay=0.3))
    ) as response:
        headers_at = time.monotonic() - started
        await response.content.readuntil(b"\n\n")
        first_chunk_at = time.monotonic() - started
        await response.read()
    assert first_chunk_at >= 0.3
    assert headers_at < first_chunk_at


async def test_tokens_per_second_paces_the_stream(oai: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    stream = await oai.chat.completions.create(
        model=MODEL,
        messages=user(directive(text="z" * 10, chunk_size=1, tokens_per_second=50)),
        stream=True,
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    elapsed = time.monotonic() - started
    assert text == "z" * 10
    assert elapsed >= 9 / 50  # ten chunks, nine intervals of 20 ms


async def test_server_wide_pacing_applies_to_every_reply(http: aiohttp.ClientSession) -> None:
    async with running_sim(SimConfig(tokens_per_second=40)) as sim:
        started = time.monotonic()
        async with http.post(
            sim.url + "/v1/chat/completions",
            json=_chat(directive(text="abcdef", chunk_size=1), stream=False),
        ) as response:
            body = await response.json()
        assert body["choices"][0]["message"]["content"] == "abcdef"
        assert time.monotonic() - started >= 6 / 40


async def test_hanging_request_counts_as_running_until_aborted(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    response = await http.post(
        sim.url + "/v1/chat/completions", json=_chat(directive(hang_after=0))
    )
    await response.content.readuntil(b"\n\n")
    async with http.get(sim.url + "/sim/stats") as stats:
        assert (await stats.json())["running"] == 1
    request_id = response.headers["X-Sim-Request-Id"]
    response.close()
    await _wait_status(http, sim, request_id, "aborted")
    async with http.get(sim.url + "/sim/stats") as stats:
        numbers = await stats.json()
    assert numbers["running"] == 0
    assert numbers["aborted"] == 1


async def test_disconnect_is_noticed_without_handler_cancellation(
    http: aiohttp.ClientSession,
) -> None:
    """make_app under a runner that does not cancel handlers (aiohttp's default) still
    notices the client leaving a stalled stream."""
    app = make_app(config=SimConfig())
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        response = await http.post(
            url + "/v1/chat/completions", json=_chat(directive(text="abcdefgh", hang_after=1))
        )
        await response.content.readuntil(b"\n\n")
        request_id = response.headers["X-Sim-Request-Id"]
        response.close()
        async with http.get(f"{url}/sim/requests/{request_id}?wait=aborted&timeout=5") as r:
            assert r.status == 200
            assert (await r.json())["chunks_sent"] == 1
    finally:
        await runner.cleanup()
