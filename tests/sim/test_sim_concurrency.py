"""The benchmark shape: 64 concurrent streams x 200 chunks, interleaved and intact."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from autosred.sim import SimHandle

from .helpers import MODEL, directive, sse_events, user

STREAMS = 64
CHUNKS = 200


async def test_64_streams_of_200_chunks_interleave_and_arrive_whole(sim: SimHandle) -> None:
    async def one(session: aiohttp.ClientSession, index: int) -> list[str]:
        body = {
            "model": MODEL,
            "messages": user(directive(text=f"<{index}>", chunks=CHUNKS)),
            "stream": True,
        }
        async with session.post(sim.url + "/v1/chat/completions", json=body) as response:
            return await sse_events(response)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=STREAMS)) as session:
        results = await asyncio.gather(*(one(session, index) for index in range(STREAMS)))

    for index, events in enumerate(results):
        assert events[-1] == "[DONE]"
        deltas = [json.loads(event)["choices"][0]["delta"] for event in events[1:-1]]
        assert len(deltas) == CHUNKS
        text = "".join(delta["content"] for delta in deltas)
        assert text.startswith(f"<{index}>")
    stats = sim.state.counters
    assert stats.completed == STREAMS
    assert stats.generation_tokens_total == STREAMS * CHUNKS
    assert stats.max_running > 1  # streams were in flight together, not one after another
