"""Helpers shared by the simulator tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionUserMessageParam

MODEL = "sim-model"
WINDOW = 4096


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [ChatCompletionUserMessageParam(role="user", content=text)]


def directive(**spec: Any) -> str:
    """A user message carrying a `#sim` directive line."""
    return "please answer\n#sim " + json.dumps(spec)


async def sse_events(response: aiohttp.ClientResponse) -> list[str]:
    """The `data:` payloads of an SSE response, in order (raises if the stream is cut)."""
    events: list[str] = []
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            for line in frame.decode().splitlines():
                if line.startswith("data: "):
                    events.append(line[len("data: ") :])
    return events


async def read_partial_sse(response: aiohttp.ClientResponse) -> tuple[list[str], bool]:
    """Like sse_events, but a cut stream is not an error: (events, ended_cleanly)."""
    events: list[str] = []
    buffer = b""
    try:
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                for line in frame.decode().splitlines():
                    if line.startswith("data: "):
                        events.append(line[len("data: ") :])
    except aiohttp.ClientPayloadError:
        return events, False
    return events, True
