"""Running a simulator: in-process for tests and benchmarks (`running_sim`), or as the
`autosred-sim` process (`serve`, with the start-up delay and failed-start simulation)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from autosred.sim.app import STATE, make_app
from autosred.sim.config import SimConfig
from autosred.sim.replies import ReplySpec
from autosred.sim.state import SimState

log = logging.getLogger("autosred.sim")

_LOADING_LOG_EVERY = 1.0  # seconds between "still loading" lines during the start-up delay


@dataclass(frozen=True)
class SimHandle:
    """A running simulator: where it listens, and its live state for in-process assertions."""

    config: SimConfig
    host: str
    port: int
    app: web.Application

    @property
    def url(self) -> str:
        """Base URL without a trailing slash; the OpenAI base URL is `url + "/v1"`."""
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> SimState:
        return self.app[STATE]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """What GET /sim/requests answers, without the HTTP round trip."""
        return [record.to_json() for record in self.state.log.select(path)]

    def set_script(self, specs: Iterable[ReplySpec]) -> None:
        self.state.replace_script(specs)


def banner(config: SimConfig, port: int | str) -> str:
    return f"SIMULATED vLLM (not a real model) model={config.model} port={port}"


@asynccontextmanager
async def running_sim(
    config: SimConfig | None = None, *, shutdown_timeout: float = 1.0
) -> AsyncIterator[SimHandle]:
    """Serve a simulator on `config.host`:`config.port` (port 0: a free port) until exit.

    `startup_delay` and `fail_start` are process behaviours and are ignored here (spawn
    `python -m autosred.sim` to simulate a slow or failed wake). Handlers are cancelled when
    their client disconnects, as a real server's generation is aborted.
    """
    config = config or SimConfig()
    app = make_app(config=config)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        log.info(banner(config, port))
        yield SimHandle(config=config, host=str(host), port=int(port), app=app)
    finally:
        await runner.cleanup()


async def serve(config: SimConfig) -> int:
    """The process: simulate loading, maybe fail, then serve until SIGTERM/SIGINT. Returns the
    exit status."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Whatever the log level, the first line says this is a simulator.
    log.log(max(logging.INFO, log.getEffectiveLevel()), banner(config, config.port))

    if await _simulate_loading(config, stop):
        log.info("stopped while loading")
        return 0
    if config.fail_start is not None:
        log.error("start_failed reason=%s", config.fail_start)
        return 1

    app = make_app(config=config)
    runner = web.AppRunner(
        app, handle_signals=False, handler_cancellation=True, access_log=None, shutdown_timeout=5.0
    )
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, config.host, config.port).start()
        except OSError as exc:
            log.error("start_failed reason=cannot bind %s:%d: %s", config.host, config.port, exc)
            return 1
        host, port = runner.addresses[0][:2]
        log.info("ready url=http://%s:%d model=%s", host, port, config.model)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
    return 0


async def _simulate_loading(config: SimConfig, stop: asyncio.Event) -> bool:
    """Wait out the start-up delay with a log line about every second, like vLLM loading
    weights; the port stays unbound meanwhile. True if told to stop meanwhile."""
    delay = config.startup_delay
    if delay <= 0:
        return False
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        elapsed = loop.time() - started
        if elapsed >= delay:
            return False
        log.info(
            "loading model=%s elapsed=%.1fs of %.1fs (simulated)", config.model, elapsed, delay
        )
        try:
            await asyncio.wait_for(stop.wait(), min(_LOADING_LOG_EVERY, delay - elapsed))
        except TimeoutError:
            continue
        return True
