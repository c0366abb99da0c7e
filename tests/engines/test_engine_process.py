"""ProcessEngine with real child processes: start, health, output, failures, stop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from yarl import URL

from autosred.config import EngineSettings
from autosred.engines.base import Engine, Observed, WakeFailed, WakeProgress
from autosred.engines.ports import pick_free_port
from autosred.engines.process import ProcessEngine
from autosred.recipes import Recipe

from .helpers import (
    CHILD_SERVER,
    events,
    is_gone,
    kill_if_alive,
    output_lines,
    sim_command,
    wait_for,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux processes")

MakeEngine = Callable[..., ProcessEngine]


@pytest.fixture
async def make_engine(log: logging.Logger) -> AsyncIterator[MakeEngine]:
    """ProcessEngines with fast polling; every child they started is stopped afterwards."""
    engines: list[ProcessEngine] = []

    def make(**settings: float) -> ProcessEngine:
        merged: dict[str, float] = {"health_interval": 0.05, "stop_timeout": 5.0, **settings}
        engine = ProcessEngine(settings=EngineSettings(**merged), log=log)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


def child_server(name: str, *extra: str, **fields: object) -> Recipe:
    command = ["{python}", str(CHILD_SERVER), "--port", "{port}", *extra]
    return Recipe(name=name, command=command, **fields)


async def wake(engine: ProcessEngine, recipe: Recipe) -> list[WakeProgress]:
    async with asyncio.timeout(30):
        return [step async for step in engine.start(recipe)]


async def get(url: URL) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


# -- start -------------------------------------------------------------------------------------


async def test_sim_starts_becomes_healthy_and_answers(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipe = Recipe(
        name="qwen",
        served_model_name="Qwen/Qwen3-8B",
        command=[
            *sim_command(),
            "--port",
            "{port}",
            "--model",
            "{served_model_name}",
            "--startup-delay",
            "0.5",
        ],
    )
    progress = await wake(engine, recipe)

    port = engine.endpoint(recipe).port
    assert port is not None
    phases = [step.phase for step in progress]
    assert phases[0] == "spawning"
    assert f"--port {port} --model Qwen/Qwen3-8B" in progress[0].detail
    assert "loading" in phases
    assert phases[-1] == "health"
    status, _ = await get(engine.endpoint(recipe) / "health")
    assert status == 200
    status, body = await get(engine.endpoint(recipe) / "v1" / "models")
    assert status == 200
    assert [model["id"] for model in json.loads(body)["data"]] == ["Qwen/Qwen3-8B"]
    observed = await engine.observe(recipe)
    assert observed.state is Observed.RUNNING


async def test_placeholders_are_substituted_in_each_argument(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    recipe = child_server(
        "qwen",
        "--print-argv",
        "--",
        "name={name}",
        "{served_model_name}",
        "{model}@{host}",
        "{{literal}}",
        served_model_name="served",
        model="Qwen/Qwen3-8B",
    )
    await wake(engine, recipe)

    port = engine.endpoint(recipe).port
    argv_lines = [line for line in output_lines(caplog) if line.startswith("argv=")]
    assert argv_lines == [
        "argv="
        + json.dumps(
            [
                "--port",
                str(port),
                "--print-argv",
                "--",
                "name=qwen",
                "served",
                "Qwen/Qwen3-8B@127.0.0.1",
                "{literal}",
            ]
        )
    ]
    started = events(caplog, "engine.child_started")
    assert started[0]["argv"][0] == sys.executable


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ["{python}", "--port={prot}"],
            "command argument '--port={prot}' uses unknown placeholder {prot}",
        ),
        (
            ["{python}", "{model}"],
            "command argument '{model}' uses {model} but the recipe sets no model",
        ),
        (["{python}", "{oops"], "command argument '{oops' is not a valid template"),
        (["{python}", "{0}"], "command argument '{0}' is not a valid template"),
    ],
)
async def test_a_bad_placeholder_fails_the_wake_before_anything_runs(
    make_engine: MakeEngine, command: list[str], message: str
) -> None:
    engine = make_engine()
    recipe = Recipe(name="qwen", command=command)
    with pytest.raises(WakeFailed) as caught:
        await wake(engine, recipe)
    assert caught.value.reason.startswith(f"qwen: {message}")
    assert engine.child_pid(recipe) is None


async def test_a_missing_executable_fails_the_wake(make_engine: MakeEngine) -> None:
    engine = make_engine()
    with pytest.raises(WakeFailed) as caught:
        await wake(engine, Recipe(name="qwen", command=["/nonexistent/vllm", "serve"]))
    assert caught.value.reason == "qwen: cannot run '/nonexistent/vllm': No such file or directory"


async def test_a_child_that_exits_early_fails_with_its_output(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipe = Recipe(
        name="qwen",
        command=[
            *sim_command(),
            "--port",
            "{port}",
            "--model",
            "qwen",
            "--fail-start",
            "CUDA error: no kernel image is available",
        ],
    )
    with pytest.raises(WakeFailed) as caught:
        await wake(engine, recipe)
    assert caught.value.reason.startswith("qwen exited with status 1: ")
    assert "CUDA error: no kernel image is available" in caught.value.reason
    observed = await engine.observe(recipe)
    assert observed.state is Observed.FAILED
    assert "CUDA error: no kernel image is available" in observed.detail


async def test_the_failure_keeps_the_last_lines_not_the_first(make_engine: MakeEngine) -> None:
    engine = make_engine()
    script = "import sys\nfor i in range(100): print('line', i)\nsys.exit(3)"
    with pytest.raises(WakeFailed) as caught:
        await wake(engine, Recipe(name="qwen", command=["{python}", "-c", script]))
    lines = caught.value.reason.removeprefix("qwen exited with status 3: ").splitlines()
    assert lines == [f"line {i}" for i in range(80, 100)]


async def test_a_child_killed_by_a_signal_says_which(make_engine: MakeEngine) -> None:
    engine = make_engine()
    script = "import os, signal; print('segfaulting'); os.kill(os.getpid(), signal.SIGSEGV)"
    with pytest.raises(WakeFailed) as caught:
        await wake(engine, Recipe(name="qwen", command=["{python}", "-c", script]))
    assert caught.value.reason == "qwen was killed by SIGSEGV: segfaulting"


async def test_a_fixed_port_is_used_and_a_busy_one_is_refused(make_engine: MakeEngine) -> None:
    engine = make_engine()
    port = pick_free_port("127.0.0.1")
    recipe = child_server("qwen", port=port)
    assert engine.endpoint(recipe) == URL(f"http://127.0.0.1:{port}")  # known before start
    await wake(engine, recipe)
    assert engine.endpoint(recipe).port == port

    other = make_engine()
    with pytest.raises(WakeFailed) as caught:
        await wake(other, child_server("second", port=port))
    assert caught.value.reason.startswith(f"second: port {port} on 127.0.0.1 is not free (")


def test_endpoint_before_start_without_a_port_is_a_clear_error(make_engine: MakeEngine) -> None:
    with pytest.raises(RuntimeError, match="qwen has no port yet"):
        make_engine().endpoint(child_server("qwen"))


async def test_observe_tracks_the_child_through_its_life(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipe = Recipe(
        name="qwen",
        command=[*sim_command(), "--port", "{port}", "--model", "qwen", "--startup-delay", "1.5"],
    )
    assert (await engine.observe(recipe)).state is Observed.STOPPED
    steps = engine.start(recipe)
    async for step in steps:
        if step.phase == "loading":
            break  # the caller gives up on the wake; the child keeps loading
    await steps.aclose()
    assert (await engine.observe(recipe)).state is Observed.STARTING

    async def running() -> bool:
        return (await engine.observe(recipe)).state is Observed.RUNNING

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await running():
        assert loop.time() < deadline, "the child never became healthy"
        await asyncio.sleep(0.05)
    await engine.stop(recipe)
    assert (await engine.observe(recipe)).state is Observed.STOPPED


async def test_a_second_start_replaces_a_leftover_child(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipe = child_server("qwen")
    steps = engine.start(recipe)
    async for step in steps:
        if step.phase == "loading":
            break
    await steps.aclose()
    first = engine.child_pid(recipe)
    assert first is not None

    await wake(engine, recipe)
    assert is_gone(first)
    second = engine.child_pid(recipe)
    assert second not in (None, first)
    assert (await engine.observe(recipe)).state is Observed.RUNNING


# -- stop --------------------------------------------------------------------------------------


async def test_stop_sends_sigterm_and_reaps_the_child(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(stop_timeout=20.0)
    recipe = child_server("qwen")
    await wake(engine, recipe)
    pid = engine.child_pid(recipe)
    assert pid is not None

    started = asyncio.get_running_loop().time()
    await engine.stop(recipe)
    elapsed = asyncio.get_running_loop().time() - started

    assert "got SIGTERM, exiting" in output_lines(caplog)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped: not even a zombie is left
    assert events(caplog, "engine.child_killed") == []
    assert elapsed < 10
    assert engine.child_pid(recipe) is None
    with pytest.raises(RuntimeError, match="no port yet"):
        engine.endpoint(recipe)
    await engine.stop(recipe)  # idempotent
    assert (await engine.observe(recipe)).state is Observed.STOPPED


async def test_a_child_ignoring_sigterm_is_killed_after_stop_timeout(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(stop_timeout=0.5)
    recipe = child_server("stubborn", "--on-term", "ignore")
    await wake(engine, recipe)
    pid = engine.child_pid(recipe)
    assert pid is not None

    started = asyncio.get_running_loop().time()
    await engine.stop(recipe)
    elapsed = asyncio.get_running_loop().time() - started

    assert "ignoring SIGTERM" in output_lines(caplog)  # it got SIGTERM first...
    assert events(caplog, "engine.child_killed") == [
        {"model": "stubborn", "pid": pid, "after": 0.5}
    ]
    exited = events(caplog, "engine.child_exited")
    assert [(e["status"], e["expected"]) for e in exited] == [(-9, True)]  # ...then SIGKILL
    assert elapsed >= 0.5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_stop_takes_the_childs_own_children_along(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    recipe = child_server("qwen", "--grandchild")
    await wake(engine, recipe)
    grandchild = next(
        int(line.removeprefix("grandchild="))
        for line in output_lines(caplog)
        if line.startswith("grandchild=")
    )
    try:
        assert not is_gone(grandchild)
        await engine.stop(recipe)
        await wait_for(lambda: is_gone(grandchild), what=f"grandchild {grandchild} to die")
    finally:
        kill_if_alive(grandchild)


async def test_concurrent_stops_share_one_stop(make_engine: MakeEngine) -> None:
    engine = make_engine(stop_timeout=0.5)
    recipe = child_server("stubborn", "--on-term", "ignore")
    await wake(engine, recipe)
    pid = engine.child_pid(recipe)
    assert pid is not None
    await asyncio.gather(engine.stop(recipe), engine.stop(recipe))
    # Both returned only once the child was gone, not the second at once.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_aclose_stops_every_child(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipes = [child_server("one"), child_server("two")]
    for recipe in recipes:
        await wake(engine, recipe)
    pids = [engine.child_pid(recipe) for recipe in recipes]
    await engine.aclose()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_two_engines_do_not_share_children(make_engine: MakeEngine) -> None:
    first, second = make_engine(), make_engine()
    recipe = child_server("qwen")
    await wake(first, recipe)
    await wake(second, recipe)
    ours, theirs = first.child_pid(recipe), second.child_pid(recipe)
    assert ours is not None
    assert theirs is not None
    assert ours != theirs
    await first.stop(recipe)
    assert is_gone(ours)
    assert not is_gone(theirs)
    assert (await second.observe(recipe)).state is Observed.RUNNING


def test_it_is_an_engine(make_engine: MakeEngine) -> None:
    engine: Engine = make_engine()  # the real check is mypy's, on this assignment
    assert engine.kind == "process"


async def test_output_is_logged_line_by_line_with_its_stream(
    make_engine: MakeEngine, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine()
    script = (
        "import sys\n"
        "sys.stdout.write('one\\ntwo\\n'); sys.stdout.flush()\n"
        "sys.stderr.write('progress 1%\\rprogress 100%\\nno newline at the end')\n"
        "sys.exit(2)"
    )
    with pytest.raises(WakeFailed):
        await wake(engine, Recipe(name="qwen", command=["{python}", "-c", script]))
    logged = {(e["stream"], e["line"]) for e in events(caplog, "engine.child_output")}
    assert logged == {
        ("stdout", "one"),
        ("stdout", "two"),
        ("stderr", "progress 1%"),
        ("stderr", "progress 100%"),
        ("stderr", "no newline at the end"),
    }
    assert all(e["model"] == "qwen" for e in events(caplog, "engine.child_output"))


def test_port_helper_sanity() -> None:
    # A closed socket's port is bindable at once (no TIME_WAIT without a connection).
    port = pick_free_port("127.0.0.1")
    with socket.create_server(("127.0.0.1", port)):
        pass


async def test_the_log_tail_is_the_childs_last_output_lines(make_engine: MakeEngine) -> None:
    engine = make_engine()
    recipe = child_server("qwen", "--print-argv")
    assert await engine.log_tail(recipe, 5) == [], "nothing runs yet"
    await wake(engine, recipe)
    async with asyncio.timeout(10):  # the output is read as it comes, maybe after the health
        while len(lines := await engine.log_tail(recipe, 5)) < 2:
            await asyncio.sleep(0.02)
    assert lines[0].startswith("argv=") and lines[-1].startswith("listening on 127.0.0.1:")
    assert await engine.log_tail(recipe, 1) == lines[-1:]
    await engine.stop(recipe)
    assert await engine.log_tail(recipe, 5) == []
