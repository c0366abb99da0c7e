"""SIGTERM from outside: the daemon is gone within shutdown.grace + SHUTDOWN_MARGIN, having
waited the grace for a stream still running and then ended it, not cut it."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp

from autosred.config import SHUTDOWN_MARGIN
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

GRACE = 2.0


def held_stream_body() -> dict[str, Any]:
    """An Anthropic streaming request whose answer stops after two chunks and never ends."""
    spec = {"text": "one two three four five six", "hang_after": 2}
    return {
        "model": "sim",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "#sim " + json.dumps(spec)}],
    }


async def read_lines(response: aiohttp.ClientResponse, into: list[str]) -> None:
    """Every line of the stream until the daemon ends it (or cuts it)."""
    try:
        async for raw in response.content:
            into.append(raw.decode().rstrip("\n"))
    except aiohttp.ClientPayloadError as exc:  # a cut connection: recorded, asserted on
        into.append(f"!cut: {exc}")


async def stop_mid_stream(
    daemon: Daemon, session: aiohttp.ClientSession
) -> tuple[float, int, list[str]]:
    """Seconds from SIGTERM to the daemon's exit, its status, and the stream's lines."""
    loop = asyncio.get_running_loop()
    async with session.post(daemon.api_url + "/v1/messages", json=held_stream_body()) as response:
        assert response.status == 200
        lines: list[str] = []
        async for raw in response.content:
            lines.append(raw.decode().rstrip("\n"))
            if lines[-1] == "event: content_block_delta":
                break
        signalled = loop.time()
        daemon.signal(signal.SIGTERM)
        reader = asyncio.create_task(read_lines(response, lines))
        status = await daemon.wait_exit(timeout=GRACE + SHUTDOWN_MARGIN + 30)
        elapsed = loop.time() - signalled
        await asyncio.wait_for(reader, 10)
    return elapsed, status, lines


async def test_sigterm_waits_the_grace_for_a_running_stream_then_exits(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()], shutdown={"grace": GRACE})
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        elapsed, status, _ = await stop_mid_stream(daemon, session)
    assert status == 0
    # It waited for the stream (not cut at once) and did not wait the grace twice.
    assert GRACE - 0.2 <= elapsed <= GRACE + SHUTDOWN_MARGIN, elapsed
    cancelled = daemon.events_named("daemon.requests_cancelled")
    assert [event["count"] for event in cancelled] == [1]
    assert daemon.events_named("daemon.stopped")


async def test_a_stream_still_running_at_the_grace_ends_with_an_error_event(
    tmp_path: Path,
) -> None:
    config = base_config(tmp_path, [sim_recipe()], shutdown={"grace": GRACE})
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        _, status, lines = await stop_mid_stream(daemon, session)
    assert status == 0
    events = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    assert events[-1] == "error", lines
    data = [line for line in lines if line.startswith("data: ")]
    error = json.loads(data[-1].removeprefix("data: "))
    assert error["type"] == "error"
    assert error["error"]["type"] in {"overloaded_error", "api_error"}
    assert not any(line.startswith("!cut") for line in lines), lines


async def test_idle_keep_alive_connections_do_not_hold_the_stop(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()], shutdown={"grace": 30})
    async with running_daemon(tmp_path, config) as daemon:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            # A few connections left open in the client's pool after a complete request each.
            async def one() -> None:
                async with session.get(daemon.api_url + "/v1/models") as response:
                    assert response.status == 200
                    await response.read()

            await asyncio.gather(*(one() for _ in range(5)))
            signalled = loop.time()
            daemon.signal(signal.SIGTERM)
            assert await daemon.wait_exit(timeout=40) == 0
            elapsed = loop.time() - signalled
    # Nothing was in flight: the stop does not wait for the grace.
    assert elapsed < SHUTDOWN_MARGIN, elapsed
