"""A model request held in flight: a /v1/messages stream that has begun and then stalls (the
simulator's ``hang_after``), for tests of what the daemon does while the model is busy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anthropic

from tests.support.daemon import Daemon


@asynccontextmanager
async def model_stream_held_open(daemon: Daemon, model: str = "sim") -> AsyncIterator[None]:
    """Yields once the stream's first event arrived (its lease is held); closes it after."""
    client = anthropic.AsyncAnthropic(base_url=daemon.api_url, api_key="unused")
    held = await client.messages.create(
        model=model,
        max_tokens=64,
        stream=True,
        messages=[{"role": "user", "content": '#sim {"text": "held open", "hang_after": 1}'}],
    )
    try:
        assert (await anext(aiter(held))).type == "message_start"
        yield
    finally:
        await held.close()
        await client.close()
