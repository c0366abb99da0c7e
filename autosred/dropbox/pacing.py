"""The dropbox gives way to the model (autosred/giveway.py): while model requests are in
flight, all transfers together move at most `dropbox.busy_rate` bytes a second; otherwise at
full speed.

A bulk transfer slows model streams through what no scheduler class reaches: the kernel's
loopback and page-cache work, and the caches and memory bandwidth the cores share. Measured on
the 2-core bench machine: an in-process transfer at ~100 MB/s took saturating streams to
0.75-0.8x, a paced one at 24 MiB/s left them at 0.93x or better.

Every transfer takes its turns on one schedule, each piece holding it for its share of the
rate, so several transfers split the rate in the order they asked; a transfer waits between
pieces (the socket unread, TCP pushing back on the sender) rather than buffering.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from autosred.giveway import GiveWay
from autosred.metrics import Metrics


class TransferPacer:
    """`await pacer.pace(n)` before moving n bytes; returns at once while the model is idle."""

    def __init__(
        self,
        *,
        rate: int,
        busy: Callable[[], bool],
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """`rate`: bytes per second while `busy()` (0: never paced)."""
        self._rate = rate
        self._metrics = metrics
        self._turns = GiveWay(busy, clock=clock, sleep=sleep)

    async def pace(self, size: int) -> None:
        if self._rate <= 0:
            return
        # A lone transfer's first piece goes at once; the time it takes at the rate is
        # waited for by the next one.
        waited = await self._turns.turn(size / self._rate)
        if waited:
            self._metrics.dropbox_paced_seconds.inc(waited)
