"""The request flow around a hosted tool that takes its time (proxy/flow.py): a streaming
client gets ``ping`` events while the search runs, a client that hangs up meanwhile is
recorded 499 with the tool call ``cancelled``, and a daemon that stops meanwhile ends the
stream with its error event and exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.proxy.anthropic_http.support import Api
from tests.proxy.hosted_http.conftest import Web, hosted_config
from tests.proxy.hosted_http.test_http_hosted import SEARCH, body, searching
from tests.support.daemon import metric_value, running_daemon

pytestmark = pytest.mark.asyncio(loop_scope="package")


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The (event, data) frames of an SSE response as they arrive."""
    buffer = b""
    async for data in response.content.iter_any():
        buffer += data
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            lines = dict(line.split(": ", 1) for line in block.decode().split("\n") if ": " in line)
            if "event" in lines:
                yield lines["event"], json.loads(lines["data"])


async def test_pings_flow_while_the_search_runs(api: Api, web_sites: Web) -> None:
    engine = web_sites.searxng
    engine.hold, engine.asked = asyncio.Event(), asyncio.Event()
    seen: list[str] = []
    try:
        async with asyncio.timeout(20):
            payload = body(searching("slow"), [SEARCH], stream=True)
            async with api.session.post(
                api.url + "/v1/messages", json=payload, headers=api.headers()
            ) as response:
                assert response.status == 200
                async for event, data in frames(response):
                    kind = data.get("content_block", {}).get("type", "")
                    seen.append(f"{event}:{kind}" if kind else event)
                    if event == "ping" and "content_block_stop" in seen:
                        engine.hold.set()  # a ping came while the tool ran: let it finish
    finally:
        engine.hold.set()
        engine.hold = None
    stop = seen.index("content_block_stop")
    result = seen.index("content_block_start:web_search_tool_result")
    assert "ping" in seen[stop:result], seen
    assert seen[-2:] == ["message_delta", "message_stop"]


async def test_a_client_gone_while_the_tool_runs_is_499_and_the_call_cancelled(
    api: Api, web_sites: Web
) -> None:
    engine = web_sites.searxng
    engine.hold, engine.asked = asyncio.Event(), asyncio.Event()

    async def counts() -> tuple[float, float]:
        text = await api.daemon.metrics()
        gone = metric_value(text, "autosred_requests_total", api="anthropic", status="499")
        cancelled = metric_value(
            text, "autosred_hosted_tool_calls_total", tool="web_search", outcome="cancelled"
        )
        return gone, cancelled

    before = await counts()
    try:
        async with asyncio.timeout(20):
            payload = body(searching("abandoned"), [SEARCH], stream=True)
            async with api.session.post(
                api.url + "/v1/messages", json=payload, headers=api.headers()
            ) as response:
                assert response.status == 200
                await engine.asked.wait()  # the daemon is searching now
                response.close()  # the client hangs up
            while await counts() != (before[0] + 1, before[1] + 1):
                await asyncio.sleep(0.05)  # polled: the daemon records it after the hang-up
    finally:
        engine.hold.set()
        engine.hold = None


async def test_a_daemon_stopping_while_the_tool_runs_ends_the_stream_with_its_error(
    tmp_path: Path, web_sites: Web
) -> None:
    engine = web_sites.searxng
    engine.hold, engine.asked = asyncio.Event(), asyncio.Event()
    seen: list[tuple[str, dict[str, Any]]] = []
    config = hosted_config(tmp_path, web_sites, shutdown={"grace": 1})
    try:
        async with running_daemon(tmp_path, config) as daemon:
            api = Api(daemon, aiohttp.ClientSession())
            try:
                async with asyncio.timeout(30):
                    payload = body(searching("stopping"), [SEARCH], stream=True)
                    async with api.session.post(
                        api.url + "/v1/messages", json=payload, headers=api.headers()
                    ) as response:
                        assert response.status == 200
                        async for frame in frames(response):
                            seen.append(frame)
                            if frame[0] == "content_block_stop":
                                await engine.asked.wait()  # the daemon is searching
                                daemon.signal(signal.SIGTERM)
                    assert await daemon.wait_exit() == 0
            finally:
                await api.session.close()
            calls = daemon.events_named("hosted.call")
    finally:
        engine.hold.set()
        engine.hold = None
    event, data = seen[-1]
    assert event == "error" and "shutting down" in data["error"]["message"], seen[-3:]
    assert [call["outcome"] for call in calls] == ["cancelled"]
    assert "Traceback" not in daemon.log_path.read_text()
