"""The daemon's own cap on searches per minute, all clients together.

A sliding window over the last 60 seconds (not a token bucket): it never lets more than
``per_minute`` searches start within any 60-second span, which is what an engine that bans
bursty clients counts, and it can say exactly when the next one will be allowed. The clock is
injected (monotonic seconds) so tests move time by hand.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from autosred.web.search.backend import FailureKind, SearchFailure

WINDOW = 60.0


class SearchLimited(SearchFailure):
    """The daemon's own limit (``mcp.search.per_minute``, shared by every caller) is used
    up: a ``rate_limited`` failure for which no engine was asked, with the exact wait."""

    def __init__(self, per_minute: int, wait: float) -> None:
        super().__init__(
            FailureKind.RATE_LIMITED,
            f"This server's search limit ({per_minute} searches a minute, "
            "mcp.search.per_minute) is used up.",
            retry_after=wait,
        )
        self.per_minute = per_minute


class SlidingWindowLimit:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._clock = clock
        self._starts: deque[float] = deque()

    def try_acquire(self) -> float | None:
        """Take a slot: None when granted, else the seconds until one frees up (> 0).
        A refused attempt takes nothing."""
        now = self._clock()
        while self._starts and self._starts[0] <= now - WINDOW:
            self._starts.popleft()
        if len(self._starts) < self.per_minute:
            self._starts.append(now)
            return None
        return WINDOW - (now - self._starts[0])
