"""StaticEngine against real aiohttp servers on real ports."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from yarl import URL

from autosred.config import ConfigError, EngineSettings
from autosred.engines.base import Engine, Observed, Ready, WakeProgress
from autosred.engines.ports import pick_free_port
from autosred.engines.static import StaticEngine
from autosred.recipes import Recipe

from .helpers import Serve, events, wait_for

FAST = {"health_interval": 0.02}


def _engine(log: logging.Logger, url: str | None, *recipes: Recipe) -> StaticEngine:
    return StaticEngine(settings=EngineSettings(url=url, **FAST), log=log, recipes=recipes)


def test_no_url_anywhere_is_a_configuration_error(log: logging.Logger) -> None:
    with pytest.raises(ConfigError) as caught:
        _engine(log, None, Recipe(name="has-url", url="http://127.0.0.1:1"), Recipe(name="qwen"))
    assert caught.value.messages == [
        "recipe qwen: the static engine needs a URL: set url in the recipe or engine.url "
        "in the configuration"
    ]


def test_a_url_with_v1_or_without_scheme_is_refused(log: logging.Logger) -> None:
    with pytest.raises(ConfigError, match="ends in /v1"):
        _engine(log, "http://127.0.0.1:8000/v1/")
    with pytest.raises(ConfigError, match="not an http"):
        _engine(log, None, Recipe(name="qwen", url="127.0.0.1:8000"))


def test_recipe_url_wins_over_engine_url(log: logging.Logger) -> None:
    engine = _engine(log, "http://127.0.0.1:8000")
    assert engine.endpoint(Recipe(name="a")) == URL("http://127.0.0.1:8000/")
    assert engine.endpoint(Recipe(name="b", url="http://10.0.0.2:9000/")) == URL(
        "http://10.0.0.2:9000/"
    )


async def test_observe_follows_the_server(log: logging.Logger, serve: Serve) -> None:
    port = pick_free_port("127.0.0.1")
    engine = _engine(log, f"http://127.0.0.1:{port}")
    recipe = Recipe(name="qwen")
    try:
        down = await engine.observe(recipe)
        runner = await serve(port)
        up = await engine.observe(recipe)
        await runner.cleanup()
        gone = await engine.observe(recipe)
    finally:
        await engine.aclose()
    assert down.state is Observed.STOPPED
    assert "connection refused" in down.detail
    assert up.state is Observed.RUNNING
    assert gone.state is Observed.STOPPED


async def test_start_waits_until_the_server_comes_up(
    log: logging.Logger, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    port = pick_free_port("127.0.0.1")
    engine = _engine(log, f"http://127.0.0.1:{port}")
    progress: list[WakeProgress] = []

    async def wake() -> None:
        async for step in engine.start(Recipe(name="qwen")):
            progress.append(step)

    try:
        waking = asyncio.create_task(wake())
        await wait_for(lambda: bool(progress), what="the first progress report")
        assert not waking.done()  # still polling: a static server cannot be started
        await serve(port)
        await asyncio.wait_for(waking, timeout=10)
    finally:
        await engine.aclose()
    assert progress == [
        WakeProgress(
            "health", f"qwen not answering at http://127.0.0.1:{port}/health: connection refused"
        ),
        # The last step says where the server answers: the scaler keeps it from here.
        Ready(
            "health",
            f"http://127.0.0.1:{port}/health answered 200",
            url=URL(f"http://127.0.0.1:{port}/"),
        ),
    ]
    assert events(caplog, "engine.static_ready") == [
        {"model": "qwen", "url": f"http://127.0.0.1:{port}/"}
    ]


async def test_a_server_that_stays_unready_is_polled_until_the_caller_gives_up(
    log: logging.Logger, serve: Serve
) -> None:
    port = pick_free_port("127.0.0.1")
    await serve(port, status=503)
    engine = _engine(log, f"http://127.0.0.1:{port}")
    progress: list[WakeProgress] = []
    try:
        # The scaler enforces the wake budget by cancelling; the engine never gives up itself.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                async for step in engine.start(Recipe(name="qwen")):
                    progress.append(step)
    finally:
        await engine.aclose()
    assert progress == [
        WakeProgress("health", f"qwen not answering at http://127.0.0.1:{port}/health: HTTP 503")
    ]


async def test_stop_leaves_the_server_alone(
    log: logging.Logger, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    port = pick_free_port("127.0.0.1")
    await serve(port)
    engine = _engine(log, f"http://127.0.0.1:{port}")
    recipe = Recipe(name="qwen")
    try:
        await engine.stop(recipe)
        after = await engine.observe(recipe)
    finally:
        await engine.aclose()
    assert after.state is Observed.RUNNING
    assert events(caplog, "engine.static_not_stopped") == [
        {"model": "qwen", "why": "run by someone else"}
    ]


async def test_a_session_passed_in_is_used_and_left_open(log: logging.Logger, serve: Serve) -> None:
    port = pick_free_port("127.0.0.1")
    await serve(port)
    requested: list[URL] = []

    async def on_request_start(
        session: aiohttp.ClientSession, context: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        requested.append(params.url)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        engine: Engine = StaticEngine(
            settings=EngineSettings(url=f"http://127.0.0.1:{port}"), log=log, session=session
        )
        observed = await engine.observe(Recipe(name="qwen"))
        await engine.aclose()
        assert not session.closed  # the daemon owns it
    assert observed.state is Observed.RUNNING
    assert requested == [URL(f"http://127.0.0.1:{port}/health")]
