"""The dropbox gives way to the model: while model requests are in flight, all transfers
together move at most `dropbox.busy_rate` bytes a second; otherwise at full speed.

Why a rate and not a priority: model streams are latency-bound (a token event waits on the
simulator or vLLM, the relay and the client in turn), and a bulk transfer slows them through
what no scheduler class reaches: the kernel's loopback and page-cache work, and the caches and
memory bandwidth the cores share. Measured on the 2-core bench machine: the same transfer
served by a second daemon process at SCHED_IDLE still took the streams to 0.68x, an in-process
transfer at ~100 MB/s to 0.75-0.8x, and a paced one at 50 MB/s left them at 0.9-1.0x.

The pace is one schedule for every transfer (a virtual clock advanced by each piece's share),
so several transfers split the rate between them in the order they asked, and a transfer
waits between pieces (the socket unread, TCP pushing back on the sender) rather than
buffering. Waits are only ever taken while the model is busy; the first piece after a quiet
spell starts a fresh schedule, so no credit or debt carries across.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from autosred.metrics import Metrics


class TransferPacer:
    """`await pacer.pace(n)` before moving n bytes; returns at once while the model is idle."""

    def __init__(
        self,
        *,
        rate: int,
        busy: Callable[[], bool],
        metrics: Metrics,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`rate`: bytes per second while `busy()` (0: never paced)."""
        self._rate = rate
        self._busy = busy
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # when the schedule lets the next byte go

    def _now(self) -> float:
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time
        return self._clock()

    async def pace(self, size: int) -> None:
        if self._rate <= 0 or size <= 0 or not self._busy():
            return
        now = self._now()
        start = max(self._next, now)
        self._next = start + size / self._rate
        # This piece goes at `start`; the time it takes at the rate is paid by the next one,
        # so a lone transfer's first piece goes at once and the pace holds from there.
        wait = start - now
        if wait > 0:
            self._metrics.dropbox_paced_seconds.inc(wait)
            await self._sleep(wait)
