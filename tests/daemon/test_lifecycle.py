"""The daemon as systemd runs it: READY, reload on SIGHUP, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import yaml

from tests.support.daemon import base_config, running_daemon, sim_recipe


def directive(**spec: object) -> str:
    """A user message that scripts the simulator's reply."""
    return "#sim " + json.dumps(spec)


async def test_ready_is_sent_only_once_every_listener_answers(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        # READY=1 has been seen (running_daemon waits for it): every listener must answer now.
        async with aiohttp.ClientSession() as session:
            async with session.head(daemon.api_url + "/") as response:
                assert response.status == 200
            async with session.get(daemon.codex_url + "/health") as response:
                assert response.status == 200
            async with session.get(daemon.metrics_url + "/readyz") as response:
                assert response.status == 200
        status = await daemon.status()
        assert status["engine"] == "process"
        assert [model["name"] for model in status["models"]] == ["sim"]
        assert status["models"][0]["state"] == "stopped"
        assert any(line.startswith("STATUS=") for line in daemon.notify.lines())


async def test_streaming_request_wakes_the_model_and_is_served(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(startup_delay=0.5)])
    async with running_daemon(tmp_path, config) as daemon:
        body = {
            "model": "sim-alias",
            "stream": True,
            "messages": [{"role": "user", "content": directive(text="hello from the sim")}],
        }
        text = ""
        async with aiohttp.ClientSession() as session:
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
                async for raw in response.content:
                    line = raw.decode().strip()
                    if line.startswith("data: {"):
                        chunk = json.loads(line[6:])
                        for choice in chunk.get("choices", []):
                            text += choice["delta"].get("content") or ""
        assert text == "hello from the sim"
        model = await daemon.model("sim")
        assert model["state"] == "ready"
        assert model["last_wake_seconds"] is not None and model["last_wake_seconds"] >= 0.5


async def test_sigterm_mid_stream_lets_the_stream_finish_then_exits_zero(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        expected = "x" * 40
        body = {
            "model": "sim",
            "stream": True,
            # 10 chunks of 4 characters at 10 chunks/s: about a second of streaming.
            "messages": [
                {"role": "user", "content": directive(text=expected, tokens_per_second=10)}
            ],
        }
        text = ""
        async with aiohttp.ClientSession() as session:
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
                signalled = False
                async for raw in response.content:
                    line = raw.decode().strip()
                    if not line.startswith("data: {"):
                        continue
                    for choice in json.loads(line[6:]).get("choices", []):
                        text += choice["delta"].get("content") or ""
                    if text and not signalled:
                        daemon.signal(signal.SIGTERM)
                        signalled = True
        assert text == expected
        assert await daemon.wait_exit() == 0
        assert "STOPPING=1" in daemon.notify.lines()
        assert daemon.events_named("daemon.stopped")


async def test_sighup_with_a_broken_config_keeps_serving(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        seen = len(daemon.notify.lines())
        daemon.config_path.write_text("api:\n  listen: [not, an, address]\nbogus_key: 1\n")
        daemon.signal(signal.SIGHUP)
        seen = await daemon.notify.wait_for("RELOADING=1", after=seen)
        await daemon.notify.wait_for("READY=1", after=seen)
        assert any(line.startswith("MONOTONIC_USEC=") for line in daemon.notify.lines())
        rejected = daemon.events_named("daemon.reload_rejected")
        assert rejected, daemon.log_path.read_text()
        problems = " ".join(rejected[-1]["problems"])
        assert "bogus_key: unknown key" in problems
        assert "api.listen" in problems
        async with aiohttp.ClientSession() as session:
            body = {"model": "sim", "messages": [{"role": "user", "content": directive(text="ok")}]}
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
                answer = await response.json()
        assert answer["choices"][0]["message"]["content"] == "ok"


async def test_sighup_with_a_good_config_adds_a_recipe(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon:
        config["recipes"].append(sim_recipe("second"))
        daemon.config_path.write_text(yaml.safe_dump(config))
        seen = len(daemon.notify.lines())
        daemon.signal(signal.SIGHUP)
        seen = await daemon.notify.wait_for("RELOADING=1", after=seen)
        await daemon.notify.wait_for("READY=1", after=seen)
        status = await daemon.status()
        assert [model["name"] for model in status["models"]] == ["sim", "second"]


async def test_watchdog_pings_at_half_the_interval(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    # WATCHDOG_USEC=400 ms: the daemon must ping about every 200 ms.
    async with running_daemon(tmp_path, config, env={"WATCHDOG_USEC": "400000"}) as daemon:
        seen = len(daemon.notify.lines())
        loop = asyncio.get_running_loop()
        started = loop.time()
        for _ in range(3):
            seen = await daemon.notify.wait_for("WATCHDOG=1", after=seen, timeout=2)
        assert loop.time() - started < 1.5


async def test_wake_history_survives_a_restart(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(startup_delay=0.3)])
    async with running_daemon(tmp_path, config) as daemon:
        body = {"model": "sim", "messages": [{"role": "user", "content": "wake"}]}
        async with aiohttp.ClientSession() as session:
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as r:
                assert r.status == 200
        first = (await daemon.model("sim"))["last_wake_seconds"]
        daemon.signal(signal.SIGTERM)
        assert await daemon.wait_exit() == 0
    assert first is not None and first >= 0.3
    async with running_daemon(tmp_path, config) as restarted:
        model = await restarted.model("sim")
        assert model["state"] == "stopped"
        assert model["last_wake_seconds"] == first
