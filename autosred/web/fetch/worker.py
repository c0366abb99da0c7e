"""Extraction off the event loop, in worker processes.

trafilatura and lxml hold the GIL for most of an extraction (tens to hundreds of ms for a
real page), so a thread would still take that time from the loop that relays the model's
streams; a separate process does not (measured in BENCHMARKS.md, "The MCP fetch tool").
The workers are started with ``spawn`` (forking a process that runs an event loop and threads is
unsafe) on first use, so the first HTML page fetched pays their start (about a second,
mostly importing trafilatura; ``warm`` does it ahead for the benchmark), at a lower CPU
priority (nice 10): on a busy host the daemon's relaying wins the CPU over an extraction,
which can wait a little. Each worker is armed with ``PR_SET_PDEATHSIG``, so a daemon that
dies without closing the pool (SIGKILL, OOM) does not leave its workers behind: they hold
their own end of the task queue's pipe and would otherwise wait on it for ever.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import Executor, ProcessPoolExecutor

WORKER_NICENESS = 10
_PR_SET_PDEATHSIG = 1


def _background(parent: int) -> None:
    """Each worker's initializer: a lower priority than the daemon's, and SIGTERM when the
    daemon (``parent``) dies."""
    os.nice(WORKER_NICENESS)
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the daemon died before the signal was armed
        os._exit(0)


def _warm() -> None:
    # Imported here, in the worker: trafilatura and its dependencies would cost the daemon's
    # own process about 8 MiB it never uses (ru_maxrss after importing the supervisor:
    # 99.6 -> 91.3 MiB).
    from autosred.web.fetch import extract

    extract.warm()


def _html_to_markdown(html: str, url: str) -> str:
    from autosred.web.fetch import extract

    return extract.html_to_markdown(html, url)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class Extractor:
    """Runs :func:`autosred.web.fetch.extract.html_to_markdown` on an executor: its own
    process pool unless one is given (the benchmark gives a thread pool to compare)."""

    def __init__(self, executor: Executor | None = None, *, workers: int | None = None) -> None:
        self._given = executor
        self._workers = workers or default_workers()
        self._pool: Executor | None = executor

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_background,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def warm(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor(), _warm)

    async def markdown(self, html: str, url: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), _html_to_markdown, html, url)

    def discard(self) -> None:
        """Give up a broken pool (a worker died); the next extraction starts a new one."""
        pool, self._pool = self._pool, self._given
        if pool is not None and pool is not self._given:
            pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """End the workers and wait for them (off the loop; an extraction in progress
        finishes first), so none outlives the daemon's stop."""
        pool, self._pool = self._pool, None
        if pool is not None and pool is not self._given:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
