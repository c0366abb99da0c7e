"""The requests a listener app is handling, so that a stop can wait for them, then end them.

aiohttp's own shutdown waits its timeout for a handler, then, if the handler has not
finished, waits the same timeout again before cancelling it: a stop took twice
``shutdown.grace``. The daemon drains instead: it waits for these handlers until the grace
is over and cancels those still running at that moment, which lets each write its surface's
error event before the connection closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InFlight:
    """A middleware that knows each running handler's task."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        tasks = self._tasks

        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                return await handler(request)
            finally:
                tasks.discard(task)

        self.middleware = middleware
        """The outermost middleware of the app whose requests a drain waits for."""

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, deadline: float, *, cancel_wait: float) -> int:
        """Wait for the running handlers until the loop's clock reads ``deadline``; cancel
        those still running then and give them ``cancel_wait`` seconds to end. Returns how
        many were cancelled."""
        loop = asyncio.get_running_loop()
        while self._tasks and (left := deadline - loop.time()) > 0:
            # Handlers that start meanwhile (on a connection accepted before the stop) are
            # waited for too: the set is read again after each wait.
            await asyncio.wait(set(self._tasks), timeout=left)
        running = set(self._tasks)
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=cancel_wait)
        return len(running)
