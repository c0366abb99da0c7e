"""The reader against real HTTP servers on loopback: shared reads, short timeouts, failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from autosred.servermetrics.reader import ServerMetricsReader
from autosred.sim.metrics import SimMetrics

DEADLINE = 10.0


@dataclass
class Server:
    """A model server's /metrics: sim-rendered text, a status, or no answer at all."""

    metrics: SimMetrics = field(
        default_factory=lambda: SimMetrics(model="m", running=lambda: 1.0, kv_usage=lambda: 0.5)
    )
    status: int = 200
    hang: bool = False
    extra: bytes = b""
    """Appended to the body (a bad line, say)."""
    reads: int = 0
    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.reads += 1
        if self.hang:
            await self.release.wait()
        if self.status != 200:
            return web.Response(status=self.status, text="engine dead")
        return web.Response(body=self.metrics.render() + self.extra, content_type="text/plain")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    app.router.add_get("/metrics", state.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        state.release.set()
        await runner.cleanup()


@pytest.fixture
async def reader() -> AsyncIterator[ServerMetricsReader]:
    reader = ServerMetricsReader(log=logging.getLogger("tests.servermetrics"), timeout=0.3)
    try:
        yield reader
    finally:
        await reader.aclose()


async def test_a_reading_is_shared_and_reused_within_max_age(
    server: Server, reader: ServerMetricsReader
) -> None:
    async with asyncio.timeout(DEADLINE):
        await asyncio.gather(*(reader.refresh({"m": server.url}) for _ in range(5)))
        await reader.refresh({"m": server.url})
    assert server.reads == 1, "five watchers at once and one more within max_age: one read"
    figures = reader.figures("m")
    assert figures is not None and figures.requests_running == 1.0
    assert set(reader.families()) == {"m"}


async def test_a_model_no_longer_running_is_forgotten(
    server: Server, reader: ServerMetricsReader
) -> None:
    await reader.refresh({"m": server.url})
    await reader.refresh({})
    assert reader.figures("m") is None and reader.families() == {}
    assert server.reads == 1, "and not asked again"


async def test_a_server_that_does_not_answer_costs_only_the_timeout(
    server: Server, reader: ServerMetricsReader, caplog: pytest.LogCaptureFixture
) -> None:
    server.hang = True
    async with asyncio.timeout(DEADLINE):
        await reader.refresh({"m": server.url})
    assert reader.figures("m") is None and reader.families() == {}
    failed = [r for r in caplog.records if r.getMessage() == "servermetrics.read_failed"]
    assert len(failed) == 1
    assert "no answer within 0.3 s" in failed[0].fields["reason"]  # type: ignore[attr-defined]


async def test_an_error_status_is_logged_once_and_recovery_too(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tests.servermetrics")
    reader = ServerMetricsReader(log=logging.getLogger("tests.servermetrics"), max_age=0)
    try:
        server.status = 500
        for _ in range(3):
            await reader.refresh({"m": server.url})
        assert reader.figures("m") is None
        server.status = 200
        await reader.refresh({"m": server.url})
        assert reader.figures("m") is not None
    finally:
        await reader.aclose()
    events = [r.getMessage() for r in caplog.records if r.name == "tests.servermetrics"]
    assert events == ["servermetrics.read_failed", "servermetrics.read_recovered"]
    assert server.reads == 4


async def test_a_bad_line_outside_the_figures_is_found_when_a_scrape_parses_it(
    server: Server, reader: ServerMetricsReader, caplog: pytest.LogCaptureFixture
) -> None:
    server.extra = b"vllm:broken{a=1} 2\n"
    await reader.refresh({"m": server.url})
    assert reader.figures("m") is not None, "a frame parses only its figures' lines"
    assert reader.families() == {}, "the scrape leaves the model out"
    assert reader.figures("m") is None, "and the reading is dropped"
    failed = [r for r in caplog.records if r.getMessage() == "servermetrics.read_failed"]
    assert len(failed) == 1
    assert "not Prometheus text" in failed[0].fields["reason"]  # type: ignore[attr-defined]
