"""Model switching and GPU gating through the real daemon (process engine, autosred-sim).

Two recipes that each need the host's one GPU cannot run at once: waking one switches the
other out. GPU memory comes from a fake NVML (tests/support/fake_nvml), the one OS-edge fake.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.daemon import Daemon, base_config, metric_value, running_daemon, sim_recipe

FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"


def directive(**spec: object) -> str:
    return "#sim " + json.dumps(spec)


def chat(model: str, content: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}


async def ask(session: aiohttp.ClientSession, daemon: Daemon, model: str, text: str) -> str:
    body = chat(model, directive(text=text))
    async with session.post(daemon.api_url + "/v1/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["choices"][0]["message"]["content"])


async def stream_text(response: aiohttp.ClientResponse) -> str:
    text = ""
    async for raw in response.content:
        line = raw.decode().strip()
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


def event_order(daemon: Daemon) -> list[tuple[str, str]]:
    wanted = {"scaler.switch_out", "scaler.stopped", "engine.child_started", "scaler.ready"}
    return [
        (event["event"], event.get("model", ""))
        for event in daemon.log_events()
        if event.get("event") in wanted
    ]


def two_models(tmp_path: Path, **scaler: Any) -> dict[str, Any]:
    return base_config(
        tmp_path,
        [sim_recipe("alpha"), sim_recipe("beta")],
        scaler={"min_residency": 0, **scaler},
    )


async def test_switch_drains_the_running_model_then_wakes_the_other(tmp_path: Path) -> None:
    async with (
        running_daemon(tmp_path, two_models(tmp_path)) as daemon,
        aiohttp.ClientSession() as session,
    ):
        assert await ask(session, daemon, "alpha", "alpha here") == "alpha here"
        long = chat("alpha", directive(text="a" * 40, tokens_per_second=20), stream=True)
        async with session.post(daemon.api_url + "/v1/chat/completions", json=long) as streaming:
            assert streaming.status == 200
            switched = asyncio.create_task(ask(session, daemon, "beta", "beta here"))
            # beta's request is held while alpha's stream drains.
            text = await stream_text(streaming)
        assert text == "a" * 40
        assert await switched == "beta here"
        states = {m["name"]: m["state"] for m in (await daemon.status())["models"]}
        assert states == {"alpha": "stopped", "beta": "ready"}
        order = event_order(daemon)
        assert order.index(("scaler.switch_out", "alpha")) < order.index(
            ("scaler.stopped", "alpha")
        )
        stopped_alpha = order.index(("scaler.stopped", "alpha"))
        started_beta = order.index(("engine.child_started", "beta"))
        assert stopped_alpha < started_beta
        metrics = await daemon.metrics()
        assert (
            metric_value(metrics, "autosred_scale_events_total", model="alpha", reason="switch")
            == 1
        )


async def test_min_residency_holds_the_switch(tmp_path: Path) -> None:
    config = two_models(tmp_path, min_residency=1.5)
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        await ask(session, daemon, "alpha", "first")
        loop = asyncio.get_running_loop()
        ready_at = loop.time()
        switched = asyncio.create_task(ask(session, daemon, "beta", "second"))
        async with asyncio.timeout(5):
            while (await daemon.model("beta"))["phase"] != "waiting for GPU":
                await asyncio.sleep(0.02)
        assert (await daemon.model("alpha"))["state"] == "ready"
        assert await switched == "second"
        assert loop.time() - ready_at >= 1.4


async def test_a_stream_that_will_not_end_is_cut_after_the_drain_timeout(tmp_path: Path) -> None:
    config = two_models(tmp_path, switch_drain_timeout=0.5)
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        hanging = chat("alpha", directive(text="h" * 100, hang_after=2), stream=True)
        async with session.post(daemon.api_url + "/v1/chat/completions", json=hanging) as streaming:
            assert streaming.status == 200
            answer = await ask(session, daemon, "beta", "served anyway")
            cut = await stream_text(streaming)
        assert answer == "served anyway"
        assert len(cut) < 100
        assert daemon.events_named("scaler.switch_cut_short")


async def test_gpu_memory_gates_the_wake(tmp_path: Path) -> None:
    nvml = tmp_path / "nvml.json"
    nvml.write_text(
        json.dumps({"devices": [{"name": "Fake H100", "total_gib": 80, "free_gib": 10}]})
    )
    recipe = sim_recipe(gpu={"count": 1, "min_free_vram_gib": 30})
    config = base_config(tmp_path, [recipe], scaler={"vram_release_timeout": 0.5})
    env = {"PYTHONPATH": str(FAKE_NVML), "AUTOSRED_FAKE_NVML": str(nvml)}
    async with (
        running_daemon(tmp_path, config, env=env) as daemon,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            daemon.api_url + "/v1/chat/completions", json=chat("sim", "hello")
        ) as response:
            assert response.status == 503
            assert int(response.headers["Retry-After"]) > 0
            message = (await response.json())["error"]["message"]
        assert "10.0 GiB of GPU memory free, 30 GiB needed" in message
        model = await daemon.model("sim")
        assert model["state"] == "failed" and "30 GiB needed" in model["reason"]
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_gpu_memory_free_bytes", gpu="0") == 10 * 1024**3

        nvml.write_text(
            json.dumps({"devices": [{"name": "Fake H100", "total_gib": 80, "free_gib": 60}]})
        )
        assert await ask(session, daemon, "sim", "enough memory now") == "enough memory now"


async def test_a_switch_waits_for_the_memory_to_be_released(tmp_path: Path) -> None:
    nvml = tmp_path / "nvml.json"
    nvml.write_text(
        json.dumps({"devices": [{"name": "Fake H100", "total_gib": 80, "free_gib": 60}]})
    )
    big = {"count": 1, "min_free_vram_gib": 50}
    config = base_config(
        tmp_path,
        [sim_recipe("alpha", gpu=big), sim_recipe("beta", gpu=big)],
        scaler={"min_residency": 0, "vram_release_timeout": 20},
    )
    env = {"PYTHONPATH": str(FAKE_NVML), "AUTOSRED_FAKE_NVML": str(nvml)}
    async with (
        running_daemon(tmp_path, config, env=env) as daemon,
        aiohttp.ClientSession() as session,
    ):
        await ask(session, daemon, "alpha", "alpha")
        # alpha's server "holds" 50 GiB; NVML keeps showing it even after alpha stops.
        nvml.write_text(
            json.dumps({"devices": [{"name": "Fake H100", "total_gib": 80, "free_gib": 10}]})
        )
        switched = asyncio.create_task(ask(session, daemon, "beta", "beta after release"))
        await daemon.wait_state("alpha", "stopped")
        waiting = await daemon.model("beta")
        assert waiting["state"] == "starting" and waiting["phase"] == "waiting for GPU"
        assert not switched.done()
        nvml.write_text(
            json.dumps({"devices": [{"name": "Fake H100", "total_gib": 80, "free_gib": 70}]})
        )
        assert await switched == "beta after release"


async def autosrectl(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "autosred.ctl",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_autosrectl_models_switch_and_running(tmp_path: Path) -> None:
    config = two_models(tmp_path, min_residency=600)
    async with running_daemon(tmp_path, config) as daemon, aiohttp.ClientSession() as session:
        socket = str(daemon.admin_socket)
        await ask(session, daemon, "alpha", "alpha runs")
        code, out, err = await autosrectl("--socket", socket, "models", "running", "--json")
        assert code == 0, err
        assert [m["name"] for m in json.loads(out)["models"]] == ["alpha"]
        # An explicit switch is not held by the minimum residency.
        code, out, err = await autosrectl("--socket", socket, "models", "switch", "beta", "--wait")
        assert code == 0, err
        assert "beta: ready" in out
        states = {m["name"]: m["state"] for m in (await daemon.status())["models"]}
        assert states == {"alpha": "stopped", "beta": "ready"}
        code, out, err = await autosrectl("--socket", socket, "--json", "models", "running")
        assert [m["name"] for m in json.loads(out)["models"]] == ["beta"]
        code, out, err = await autosrectl("--socket", socket, "models", "available", "--json")
        assert [m["name"] for m in json.loads(out)["models"]] == ["alpha", "beta"]
        code, _, err = await autosrectl("--socket", socket, "models", "switch")
        assert code == 2 and "NAME" in err
