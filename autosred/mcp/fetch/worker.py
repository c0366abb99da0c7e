"""Extraction off the event loop, in worker processes.

trafilatura and lxml hold the GIL for most of an extraction (tens to hundreds of ms for a
real page), so a thread would still take that time from the loop that relays the model's
streams; a separate process does not (measured in BENCHMARKS.md, "fetch"). The workers
are started with ``spawn`` (forking a process that runs an event loop and threads is
unsafe) on first use, so the first HTML page fetched pays their start (about a second,
mostly importing trafilatura; ``warm`` does it ahead for the benchmark), at a lower CPU
priority (nice 10): on a busy host the daemon's relaying wins the CPU over an extraction,
which can wait a little.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor

from autosred.mcp.fetch import extract

WORKER_NICENESS = 10


def _background() -> None:
    """Each worker's initializer: lower its own priority (never raise the daemon's)."""
    os.nice(WORKER_NICENESS)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class Extractor:
    """Runs :func:`extract.html_to_markdown` on an executor: its own process pool unless
    one is given (the benchmark gives a thread pool to compare)."""

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
            )
        return self._pool

    async def warm(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor(), extract.warm)

    async def markdown(self, html: str, url: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), extract.html_to_markdown, html, url)

    def close(self) -> None:
        if self._pool is not None and self._given is None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
