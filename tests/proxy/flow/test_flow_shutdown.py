"""A stream still running when the daemon stops (past ``shutdown.grace``) ends with its
surface's error event, not a cut connection: Anthropic ``event: error``, Responses
``response.failed``, OpenAI's in-band ``data: {"error": …}``."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.proxy.flow.timing import Arrival, parse_frame
from tests.support.daemon import Daemon, base_config, running_daemon, sim_recipe

pytestmark = pytest.mark.asyncio

HANGING = "#sim " + json.dumps({"text": "x" * 200, "hang_after": 3})
"""Three chunks, then the simulated server stalls until the request goes away."""

STREAMS: dict[str, tuple[str, dict[str, Any], str]] = {
    # surface: (path, body, the event that means "output has started")
    "anthropic": (
        "/v1/messages",
        {
            "model": "claude-sonnet-5",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": HANGING}],
        },
        "content_block_delta",
    ),
    "responses": (
        "/v1/responses",
        {"model": "gpt-5.5", "stream": True, "input": HANGING},
        "response.output_text.delta",
    ),
    "openai": (
        "/v1/chat/completions",
        {"model": "gpt-5.5", "stream": True, "messages": [{"role": "user", "content": HANGING}]},
        "chat.completion.chunk",
    ),
}


async def _read_until_eof(
    response: aiohttp.ClientResponse, started: asyncio.Event, first: str
) -> list[Arrival]:
    frames: list[Arrival] = []
    buffer = ""
    async for data in response.content.iter_any():
        buffer += data.decode()
        *blocks, buffer = buffer.split("\n\n")
        for block in blocks:
            frame = parse_frame(block, 0.0)
            if frame is not None:
                frames.append(frame)
                if frame.event == first:
                    started.set()
    return frames


async def _stream(daemon: Daemon, surface: str, started: asyncio.Event) -> list[Arrival]:
    path, body, first = STREAMS[surface]
    headers = {"anthropic-version": "2023-06-01"} if surface == "anthropic" else {}
    async with aiohttp.ClientSession() as session:
        async with session.post(daemon.api_url + path, json=body, headers=headers) as response:
            assert response.status == 200
            return await _read_until_eof(response, started, first)


async def test_streams_running_past_the_grace_end_with_their_error_event(
    tmp_path: Path,
) -> None:
    recipe = sim_recipe(aliases=["claude-*", "gpt-*"])
    config = base_config(tmp_path, [recipe], shutdown={"grace": 1})
    async with running_daemon(tmp_path, config) as daemon:
        started = {surface: asyncio.Event() for surface in STREAMS}
        streams = {
            surface: asyncio.create_task(_stream(daemon, surface, started[surface]))
            for surface in STREAMS
        }
        async with asyncio.timeout(30):
            for event in started.values():
                await event.wait()
        daemon.signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            frames = {surface: await task for surface, task in streams.items()}
            assert await daemon.wait_exit() == 0
    anthropic = frames["anthropic"][-1]
    assert anthropic.event == "error", frames["anthropic"][-3:]
    assert anthropic.data["error"]["type"] == "overloaded_error"
    assert "shutting down" in anthropic.data["error"]["message"]
    responses = frames["responses"][-1]
    assert responses.event == "response.failed", frames["responses"][-3:]
    assert responses.data["response"]["status"] == "failed"
    openai = frames["openai"][-1]
    assert isinstance(openai.data, dict) and "error" in openai.data, frames["openai"][-3:]
    assert "shutting down" in openai.data["error"]["message"]
    assert "Traceback" not in daemon.log_path.read_text()
