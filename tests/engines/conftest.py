"""Fixtures for the engine tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from .helpers import LOGGER_NAME, Serve


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    return logging.getLogger(LOGGER_NAME)


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an aiohttp server answering GET /health with ``status`` on ``port``."""
    runners: list[web.AppRunner] = []

    async def start(port: int, *, status: int = 200) -> web.AppRunner:
        async def health(request: web.Request) -> web.Response:
            return web.Response(status=status, text="ok" if status == 200 else "not yet")

        app = web.Application()
        app.router.add_get("/health", health)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        await runner.cleanup()
