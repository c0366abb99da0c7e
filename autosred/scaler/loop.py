"""What the scaler needs of the event loop — the time, timers and child tasks — as two seams.

The controllers and the residency take a :class:`Clock` and a :class:`Tasks` instead of reaching
for ``asyncio`` themselves, so their transitions are driven one message at a time in tests,
with a clock the test moves and child work the test completes by hand (tests/scaler).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds: what deadlines and durations are measured in."""
        ...

    def wall(self) -> float:
        """Epoch seconds, for what is shown to people (the idle deadline)."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` on the loop at ``now() == when``."""
        ...


class Tasks(Protocol):
    """Child work of one owner: cancelled together when the owner ends."""

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None: ...

    def cancel_all(self) -> None: ...


class LoopClock:
    """The running event loop's clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_at(when, callback)


class LoopTasks:
    """asyncio tasks, kept referenced until they end (the loop holds only weak references)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
