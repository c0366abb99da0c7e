"""What a client sees of a stream, and when: each SSE frame (or comment) with its arrival time,
read from a real socket as it comes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Arrival:
    at: float
    """Seconds since the request was sent."""
    event: str
    """The frame's ``event`` (else its data's ``type`` or ``object``, or the data itself), or
    ``:`` for a comment."""
    data: Any


@dataclass
class TimedStream:
    status: int
    headers_at: float
    """Seconds from sending the request to its status line and headers."""
    arrivals: list[Arrival]

    def first(self, event: str) -> Arrival:
        return next(arrival for arrival in self.arrivals if arrival.event == event)

    def before(self, event: str) -> list[Arrival]:
        """Everything that arrived before the first ``event``."""
        out: list[Arrival] = []
        for arrival in self.arrivals:
            if arrival.event == event:
                return out
            out.append(arrival)
        raise AssertionError(f"no {event!r} in {[a.event for a in self.arrivals]}")


def parse_frame(block: str, at: float) -> Arrival | None:
    event = None
    data: Any = None
    for line in block.split("\n"):
        if line.startswith(":"):
            return Arrival(at, ":", line[1:].strip())
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            text = line[5:].strip()
            data = text if text == "[DONE]" else json.loads(text)
    if data is None:
        return None
    if event is None:
        event = str(data.get("type") or data.get("object")) if isinstance(data, dict) else data
    return Arrival(at, event, data)


async def timed_stream(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], **headers: str
) -> TimedStream:
    """POST ``body`` and read the answer to its end, timing the headers and each frame."""
    sent = time.monotonic()
    async with session.post(url, json=body, headers=headers) as response:
        headers_at = time.monotonic() - sent
        arrivals: list[Arrival] = []
        buffer = ""
        async for data in response.content.iter_any():
            at = time.monotonic() - sent
            buffer += data.decode()
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                frame = parse_frame(block, at)
                if frame is not None:
                    arrivals.append(frame)
        return TimedStream(response.status, headers_at, arrivals)
