"""Scale-to-zero through the real daemon, the process engine and autosred-sim."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.daemon import base_config, metric_value, running_daemon, sim_recipe


def directive(**spec: object) -> str:
    return "#sim " + json.dumps(spec)


def chat(content: str, *, stream: bool = False, model: str = "sim") -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}


async def read_stream(response: aiohttp.ClientResponse) -> tuple[str, list[str]]:
    """The concatenated content deltas and every raw SSE line (comments included)."""
    text, lines = "", []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line:
            lines.append(line)
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text, lines


async def test_concurrent_requests_join_one_wake(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(startup_delay=1.0)])
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:

        async def one(i: int) -> str:
            body = chat(directive(text=f"reply {i}"))
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200, await response.text()
                answer = await response.json()
                return str(answer["choices"][0]["message"]["content"])

        answers = await asyncio.gather(*(one(i) for i in range(6)))
        assert answers == [f"reply {i}" for i in range(6)]
        metrics = await daemon.metrics()
        assert (
            metric_value(metrics, "autosred_scale_events_total", direction="up", reason="request")
            == 1
        )
        assert len(daemon.events_named("scaler.wake_started")) == 1


async def test_idle_scale_down_waits_for_the_last_stream_to_end(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(idle_timeout=0.5)])
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        # Wake it first, so its idle timer is running when the long stream starts.
        async with session.post(daemon.api_url + "/v1/chat/completions", json=chat("hi")) as r:
            assert r.status == 200
        # A stream of 12 chunks at 8 chunks/s lasts ~1.5 s: three idle timeouts long.
        body = chat(directive(text="y" * 48, tokens_per_second=8), stream=True)
        async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
            text, _ = await read_stream(response)
            ended = asyncio.get_running_loop().time()
        assert text == "y" * 48
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_scale_events_total", direction="down") == 0
        stopped = await daemon.wait_state("sim", "stopped", timeout=10)
        assert stopped["in_flight"] == 0
        waited = asyncio.get_running_loop().time() - ended
        assert waited >= 0.4, f"scaled down {waited:.2f}s after the stream ended"
        events = daemon.events_named("scaler.stop_started")
        assert [event["reason"] for event in events] == ["idle"]


async def test_hold_cap_refuses_the_excess_with_retry_after(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe(startup_delay=1.5, hold_cap=2)])
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:

        async def one() -> tuple[int, str | None, dict[str, Any]]:
            body = chat(directive(text="held"))
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                return response.status, response.headers.get("Retry-After"), await response.json()

        first = asyncio.create_task(one())
        second = asyncio.create_task(one())
        await daemon.wait_state("sim", "starting")
        async with asyncio.timeout(5):
            while (await daemon.model("sim"))["held"] < 2:
                await asyncio.sleep(0.02)
        status, retry_after, body = await one()
        assert status == 503
        assert retry_after is not None and int(retry_after) >= 1
        assert "hold cap 2" in body["error"]["message"]
        assert [(await first)[0], (await second)[0]] == [200, 200]


async def test_failed_wake_reaches_every_held_client(tmp_path: Path) -> None:
    recipe = sim_recipe(startup_delay=0.8, sim_args=["--fail-start", "CUDA out of memory"])
    config = base_config(tmp_path, [recipe])
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:

        async def plain() -> tuple[int, dict[str, Any]]:
            async with session.post(
                daemon.api_url + "/v1/chat/completions", json=chat("hello")
            ) as response:
                return response.status, await response.json()

        async def streaming() -> tuple[int, list[str]]:
            async with session.post(
                daemon.api_url + "/v1/chat/completions", json=chat("hello", stream=True)
            ) as response:
                _, lines = await read_stream(response)
                return response.status, lines

        (status, body), (stream_status, lines) = await asyncio.gather(plain(), streaming())
        assert status == 503
        assert "CUDA out of memory" in body["error"]["message"]
        # The streaming client got its 200 and keep-alive comments, then the error in band.
        assert stream_status == 200
        assert any(line.startswith(": waking model=sim") for line in lines)
        errors = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
        assert errors and "CUDA out of memory" in errors[-1]["error"]["message"]
        model = await daemon.model("sim")
        assert model["state"] == "failed"
        assert "CUDA out of memory" in (model["last_error"] or "")
        assert "CUDA out of memory" in (model["reason"] or "")


async def test_client_disconnect_aborts_the_upstream_request(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()])
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        body = chat(directive(text="z" * 400, hang_after=2), stream=True)
        async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
            assert response.status == 200
            chunks = 0
            async for raw in response.content:
                if raw.startswith(b"data: {"):
                    chunks += 1
                if chunks == 2:
                    break
            response.close()  # the client hangs up mid-stream
        endpoint = (await daemon.model("sim"))["endpoint"]
        async with asyncio.timeout(10):
            while True:
                async with session.get(f"{endpoint}/sim/requests") as listing:
                    records = await listing.json()
                chats = [r for r in records if r["path"] == "/v1/chat/completions"]
                if chats and chats[-1]["status"] == "aborted":
                    break
                await asyncio.sleep(0.05)
        model = await daemon.wait_state("sim", "ready")
        async with asyncio.timeout(5):
            while model["in_flight"]:
                model = await daemon.model("sim")
                await asyncio.sleep(0.02)


async def test_a_crashed_server_is_noticed_and_woken_again(tmp_path: Path) -> None:
    config = base_config(tmp_path, [sim_recipe()], scaler={"health_check_interval": 0.2})
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        async with session.post(daemon.api_url + "/v1/chat/completions", json=chat("hi")) as r:
            assert r.status == 200
        child = int(daemon.events_named("engine.child_started")[-1]["pid"])
        os.kill(child, signal.SIGKILL)
        await daemon.wait_state("sim", "stopped", timeout=10)
        assert [e["reason"] for e in daemon.events_named("scaler.stop_started")] == ["died"]
        body = chat(directive(text="back again"))
        async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as r:
            assert r.status == 200
            assert (await r.json())["choices"][0]["message"]["content"] == "back again"
        assert len(daemon.events_named("engine.child_started")) == 2
