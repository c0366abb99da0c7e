"""The recent requests, in memory: a bounded ring fed by each exchange's outcome.

The admin API's watchers read it (``autosrectl watch``): the ring for a frame's "recent
requests", and a feed per watcher for each request as it finishes. Recording one request is an
append and, per attached watcher, one more; nothing is written to disk and nothing waits, so a
watcher that does not read can never slow a request: its feed keeps the newest events and drops
the oldest (the ring still holds them for its next frame).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from autosred.proxy.exchange import Exchange
from autosred.proxy.outcome import Outcome

RING_SIZE = 256
"""Requests kept for frames: a screenful many times over, a few tens of KiB."""
FEED_SIZE = 256
"""Events a watcher may be behind before the oldest it has not read are dropped."""


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """One finished request (the admin API's ``RequestRecord``, before the wire)."""

    at: float
    """When it finished, epoch seconds."""
    surface: str
    client: str
    model: str
    status: str
    """As the metrics label it: "200", "499" (the client went away), "stream_error"."""
    ttfb_seconds: float | None
    tokens_in: int | None
    tokens_out: int | None
    duration_seconds: float


class _Feed:
    """One watcher's backlog: bounded, newest kept."""

    __slots__ = ("events", "ready")

    def __init__(self, size: int) -> None:
        self.events: deque[RequestEntry] = deque(maxlen=size)
        self.ready = asyncio.Event()

    def push(self, entry: RequestEntry) -> None:
        self.events.append(entry)
        self.ready.set()


class RequestLog:
    """The daemon's ring of recent requests and its watchers' feeds."""

    def __init__(self, *, size: int = RING_SIZE, feed_size: int = FEED_SIZE) -> None:
        self._ring: deque[RequestEntry] = deque(maxlen=size)
        self._feeds: set[_Feed] = set()
        self._feed_size = feed_size

    def observe(self, exchange: Exchange) -> None:
        """Record ``exchange`` when it finishes (one more observer of its outcome)."""
        exchange.observe(lambda outcome: self.record(exchange, outcome))

    def record(self, exchange: Exchange, outcome: Outcome) -> None:
        finished = time.perf_counter()
        usage = outcome.usage
        first = exchange.first_byte_at
        entry = RequestEntry(
            at=time.time(),
            surface=exchange.api,
            client=exchange.client,
            model=exchange.model,
            status=str(outcome.status),
            ttfb_seconds=None if first is None else first - exchange.started,
            tokens_in=None if usage is None else usage.input_tokens,
            tokens_out=None if usage is None else usage.output_tokens,
            duration_seconds=finished - exchange.started,
        )
        self._ring.append(entry)
        for feed in self._feeds:
            feed.push(entry)

    def recent(self, limit: int | None = None) -> list[RequestEntry]:
        """The newest ``limit`` requests (all kept when None), newest first."""
        newest: Iterator[RequestEntry] = reversed(self._ring)
        count = len(self._ring) if limit is None else min(limit, len(self._ring))
        return [next(newest) for _ in range(count)]

    @property
    def watchers(self) -> int:
        """Feeds attached now (tests and the benchmarks check that watchers leave)."""
        return len(self._feeds)

    def backlog(self) -> int:
        """Events held for watchers, all feeds together (bounded by feeds x feed size)."""
        return sum(len(feed.events) for feed in self._feeds)

    async def follow(self) -> AsyncIterator[RequestEntry]:
        """Each request finishing from now on, until closed; a reader that falls more than the
        feed's size behind loses the oldest events it has not read."""
        feed = _Feed(self._feed_size)
        self._feeds.add(feed)
        try:
            while True:
                await feed.ready.wait()
                feed.ready.clear()
                while feed.events:
                    yield feed.events.popleft()
        finally:
            self._feeds.discard(feed)
