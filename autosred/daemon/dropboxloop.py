"""The dropbox listener's own event loop, on a thread of its own.

A transfer's TLS records, HTTP parsing and body reads ran on the loop that relays the model
streams, and every record a 1 GiB upload decrypts there is time a stream's next event waits.
The dropbox's parts (its app and listener, the Access, the store, the expiry sweeper) are
built on this loop and used only from it; the daemon's main loop reaches them through
:meth:`DropboxLoop.run`, which hands a coroutine over with ``run_coroutine_threadsafe`` and
awaits its result (a cancelled caller cancels it there too). Decryption (ssl), hashing
(hashlib) and file I/O release the GIL, so this thread really can use the second core.

The thread runs at a lower CPU priority (a higher nice value; on Linux nice is per thread,
and the worker threads this loop starts inherit it), so on a busy machine a transfer yields
to the model streams rather than the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

NICE = 5
"""How much lower than the daemon's the dropbox thread's CPU priority is (nice increment)."""


class DropboxLoopStopped(RuntimeError):
    """The dropbox loop is not running (not started yet, or stopped)."""


class DropboxLoop:
    """An event loop running in a daemon thread until :meth:`stop`."""

    def __init__(self, *, log: logging.Logger, nice: int = NICE) -> None:
        self._log = log
        self._nice = nice
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dropbox-loop", daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def _serve(self) -> None:
        self._lower_priority()
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._finish()

    def _lower_priority(self) -> None:
        if self._nice <= 0 or not hasattr(os, "setpriority"):
            return
        tid = threading.get_native_id()
        try:
            now = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, now + self._nice))
        except OSError as exc:  # a sandbox may forbid it; the dropbox still works
            self._log.info("dropbox.loop_priority_unchanged", extra={"fields": {"error": str(exc)}})

    def _finish(self) -> None:
        """What is left on the loop once it stopped: tasks cancelled, generators and worker
        threads ended, then the loop closed."""
        loop = self._loop
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call()`` on the dropbox loop and await its result from the caller's loop."""
        if not self._thread.is_alive() or self._loop.is_closed():
            raise DropboxLoopStopped("the dropbox loop is not running")

        async def there() -> T:
            return await call()

        try:
            future = asyncio.run_coroutine_threadsafe(there(), self._loop)
        except RuntimeError as exc:  # closed between the check and the call
            raise DropboxLoopStopped("the dropbox loop is not running") from exc
        return await asyncio.wrap_future(future)

    async def stop(self) -> None:
        """Stop the loop (what still runs on it is cancelled) and wait for its thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # already closed
            self._loop.call_soon_threadsafe(self._loop.stop)
        # Joined from a worker thread: the caller's loop keeps serving meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
