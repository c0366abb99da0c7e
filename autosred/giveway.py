"""Work beside the model gives way to it: while model requests are in flight, a side load
(dropbox transfers, browser actions) takes its turns on one schedule, each turn starting no
earlier than the last one's start plus the last one's cost.

Why turns and not a process priority: measured on the 2-core bench machine, a busy loop at
nice 19 still costs saturating model streams a fifth to a third of their rate, and a transfer
served by a second process at SCHED_IDLE 0.68x (BENCHMARKS.md, *Side loads give way to the
model*); what a side load costs follows how much it does, so it is its pace that is held.

Turns are only ever waited for while the model is busy; the first turn after a quiet spell
starts a fresh schedule, so no credit or debt carries across.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class GiveWay:
    """One schedule of turns; ``busy()`` says whether model requests are in flight now."""

    def __init__(
        self,
        busy: Callable[[], bool],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._busy = busy
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # when the schedule lets the next turn start (the clock's reading)

    async def turn(self, cost: float) -> float:
        """Wait for this turn, which holds the schedule for ``cost`` seconds; the seconds
        waited (0 while the model is idle, and for the first turn after a quiet spell)."""
        if cost <= 0 or not self._busy():
            return 0.0
        now = self._clock()
        start = max(self._next, now)
        self._next = start + cost
        wait = start - now
        if wait <= 0:
            return 0.0
        await self._sleep(wait)
        return wait
