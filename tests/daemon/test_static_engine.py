"""The static engine through the daemon: a server someone else runs, health-checked only."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import aiohttp

from autosred.sim.config import SimConfig
from autosred.sim.server import running_sim
from tests.support.daemon import base_config, running_daemon


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_static_engine_serves_a_running_server(tmp_path: Path) -> None:
    async with running_sim(SimConfig(model="outside")) as sim:
        recipe = {"name": "outside", "aliases": ["gpt-*"]}
        config = base_config(tmp_path, [recipe], engine={"kind": "static", "url": sim.url})
        async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
            body = {
                "model": "gpt-5",
                "messages": [
                    {"role": "user", "content": "#sim " + json.dumps({"text": "static ok"})}
                ],
            }
            async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200, await response.text()
                answer = await response.json()
            assert answer["choices"][0]["message"]["content"] == "static ok"
            assert (await daemon.model("outside"))["endpoint"] == sim.url


async def test_wake_budget_exceeded_names_the_budget_and_why(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    recipe = {"name": "gone", "wake_budget": "1s"}
    config = base_config(tmp_path, [recipe], engine={"kind": "static", "url": url})
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        body = {"model": "gone", "messages": [{"role": "user", "content": "hello?"}]}
        async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
            assert response.status == 503
            assert response.headers.get("Retry-After")
            message = (await response.json())["error"]["message"]
        assert "wake budget of 1 s" in message
        assert url in message
        assert (await daemon.model("gone"))["state"] == "failed"
