"""The daemon with the kubernetes engine against the fake k3s (official client over HTTP):
waking from zero on the request path, failing fast, idling to zero, adopting after a restart,
reporting drift."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from fake_k3s import UNSCHEDULABLE_MESSAGE, FakeCluster, running_cluster
from tests.ctl.run import Ctl
from tests.support.daemon import Daemon, base_config, metric_value, running_daemon

SELECTOR = "autosred.io/recipe=qwen"
FAST: dict[str, Any] = {
    "pull_delay": 0.6,
    "start_delay": 0.8,
    "schedule_delay": 0.05,
    "backoff": 0.3,
    "probe_interval": 0.05,
}


def recipe(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "qwen",
        "served_model_name": "qwen-served",
        "model": "org/qwen",
        "image": "vllm/vllm-openai:v0.24.0",
        "vllm_args": ["--max-model-len", "32768"],
        "aliases": ["claude-*"],
        "idle_timeout": "10m",
        "wake_budget": "60s",
    }
    data.update(overrides)
    return data


def config(tmp_path: Path, cluster: FakeCluster, *recipes: dict[str, Any]) -> dict[str, Any]:
    return base_config(
        tmp_path,
        list(recipes) or [recipe()],
        engine={
            "kind": "kubernetes",
            "kubeconfig": str(cluster.kubeconfig),
            "namespace": "default",
            "health_interval": 0.05,
            "api_retry": "2s",
            "pod_stop_timeout": "20s",
        },
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    async with running_cluster(tmp_path / "k3s", **FAST) as running:
        yield running


def directive(**spec: object) -> str:
    return "#sim " + json.dumps(spec)


def chat(content: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": "qwen", "stream": stream, "messages": [{"role": "user", "content": content}]}


async def stream_chat(
    session: aiohttp.ClientSession, daemon: Daemon, content: str
) -> tuple[int, str, list[str]]:
    """Status, the concatenated content, and every SSE line (comments included)."""
    url = daemon.api_url + "/v1/chat/completions"
    async with session.post(url, json=chat(content, stream=True)) as response:
        text, lines = "", []
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line:
                lines.append(line)
            if line.startswith("data: {"):
                for choice in json.loads(line[6:]).get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
        return response.status, text, lines


def error_message(status: int, lines: list[str]) -> str:
    """A wake that fails while the client is held: the error in band after the 200 and the
    keep-alive comments; one that fails sooner (before keepalive_after): a plain 503."""
    if status == 200:
        errors = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
        return str(errors[-1]["error"]["message"]) if errors else ""
    assert status == 503, (status, lines)
    return str(json.loads("".join(lines))["error"]["message"])


def phases(lines: list[str]) -> list[str]:
    found: list[str] = []
    for line in lines:
        if line.startswith(": waking "):
            phase = line.split(" phase=", 1)[1].rsplit(" eta=", 1)[0]
            if not found or found[-1] != phase:
                found.append(phase)
    return found


async def test_a_held_stream_wakes_the_model_from_zero(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    async with running_daemon(tmp_path, config(tmp_path, cluster)) as daemon:
        assert cluster.pods(label_selector=SELECTOR) == []
        assert (await daemon.model("qwen"))["state"] == "stopped"
        async with aiohttp.ClientSession() as session:
            status, text, lines = await stream_chat(session, daemon, directive(text="awake"))
        assert status == 200
        assert text == "awake"
        seen = phases(lines)
        assert "pulling image" in seen and "engine loading" in seen, seen
        assert seen.index("pulling image") < seen.index("engine loading")
        model = await daemon.model("qwen")
        assert model["state"] == "ready"
        (pod,) = cluster.pods(label_selector=SELECTOR)
        assert model["endpoint"] == f"http://{pod['status']['podIP']}:8000"
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_drift_fields", model="qwen") == 0
        assert metric_value(metrics, "autosred_engine_state", model="qwen", state="ready") == 1


async def test_failures_reach_status_and_the_held_client_within_seconds(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    ctl = Ctl(socket=tmp_path / "admin.sock")
    cases = [
        ("Unschedulable", f"cannot be scheduled: {UNSCHEDULABLE_MESSAGE}"),
        ("ImagePullBackOff", "cannot pull image vllm/vllm-openai:v0.24.0"),
        ("CrashLoopBackOff", "exited with code 1"),
        ("OOMKilled", "OOMKilled"),
    ]
    async with running_daemon(tmp_path, config(tmp_path, cluster)) as daemon:
        async with aiohttp.ClientSession() as session:
            for mode, expected in cases:
                cluster.control(fail=mode)
                started = time.monotonic()
                status, _, lines = await stream_chat(session, daemon, "hello")
                took = time.monotonic() - started
                assert took < 10, f"{mode}: the error took {took:.1f}s (wake budget 60s)"
                assert expected in error_message(status, lines), (mode, lines)
                result = await ctl("status", "--json")
                assert result.rc == 0, result.err
                (model,) = json.loads(result.out)["models"]
                assert model["state"] == "failed", mode
                assert expected in model["reason"], (mode, model)
                # The failed wake leaves nothing running behind it.
                async with asyncio.timeout(20):
                    while cluster.pods(label_selector=SELECTOR):
                        await asyncio.sleep(0.05)
        cluster.control(fail="none")
        async with aiohttp.ClientSession() as session:
            status, text, _ = await stream_chat(session, daemon, directive(text="recovered"))
        assert (status, text) == (200, "recovered")


async def test_idle_scale_down_waits_for_the_last_stream(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    cluster.control(pull_delay=0.05, start_delay=0.1)
    async with running_daemon(
        tmp_path, config(tmp_path, cluster, recipe(idle_timeout="0.5s"))
    ) as daemon:
        async with aiohttp.ClientSession() as session:
            # 12 chunks at 8 chunks/s: a stream three idle timeouts long.
            status, text, _ = await stream_chat(
                session, daemon, directive(text="y" * 48, tokens_per_second=8)
            )
            ended = time.monotonic()
        assert (status, text) == (200, "y" * 48)
        stopped = await daemon.wait_state("qwen", "stopped", timeout=20)
        waited = time.monotonic() - ended
        assert waited >= 0.4, f"scaled down {waited:.2f}s after the stream ended"
        assert stopped["in_flight"] == 0
        assert cluster.pods(label_selector=SELECTOR) == []
        events = daemon.events_named("scaler.stop_started")
        assert [event["reason"] for event in events] == ["idle"]


async def test_a_restarted_daemon_adopts_the_running_pod(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    async with running_daemon(first_dir, config(first_dir, cluster)) as daemon:
        async with aiohttp.ClientSession() as session:
            status, _, _ = await stream_chat(session, daemon, directive(text="one"))
        assert status == 200
        (pod,) = cluster.pods(label_selector=SELECTOR)
        daemon.signal(signal.SIGKILL)
        await daemon.wait_exit()
    async with running_daemon(second_dir, config(second_dir, cluster)) as daemon:
        # Adoption is done before READY=1: the model is ready the moment the daemon is.
        model = await daemon.model("qwen")
        assert model["state"] == "ready"
        assert model["idle_in_seconds"] is not None and model["idle_in_seconds"] > 500
        async with aiohttp.ClientSession() as session:
            status, text, lines = await stream_chat(session, daemon, directive(text="two"))
        assert (status, text) == (200, "two")
        assert phases(lines) == []  # no wake: served at once
        (again,) = cluster.pods(label_selector=SELECTOR)
        assert again["metadata"]["uid"] == pod["metadata"]["uid"]
        assert daemon.events_named("scaler.wake_started") == []
        assert daemon.events_named("scaler.adopted")


async def test_drift_after_the_recipe_changed(tmp_path: Path, cluster: FakeCluster) -> None:
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    async with running_daemon(first_dir, config(first_dir, cluster)) as daemon:
        async with aiohttp.ClientSession() as session:
            assert (await stream_chat(session, daemon, "hi"))[0] == 200
        ctl = Ctl(socket=first_dir / "admin.sock")
        clean = await ctl("drift", "qwen")
        assert clean.rc == 0, clean.err
        assert clean.out.startswith("qwen: matches the recipe"), clean.out
        daemon.signal(signal.SIGKILL)
        await daemon.wait_exit()
    changed = recipe(vllm_args=["--max-model-len", "65536"], env={"VLLM_LOGGING_LEVEL": "DEBUG"})
    settings = config(second_dir, cluster, changed)
    settings["scaler"]["health_check_interval"] = 0.2
    async with running_daemon(second_dir, settings) as daemon:
        # Adopted with the drift noted: never restarted behind a client's back.
        await daemon.wait_state("qwen", "ready", timeout=3)
        ctl = Ctl(socket=second_dir / "admin.sock")
        result = await ctl("drift")
        assert result.rc == 0, result.err
        lines = result.out.splitlines()
        assert lines[0].startswith("qwen: "), result.out
        assert "  container.args" in lines
        assert "  container.env.VLLM_LOGGING_LEVEL" in lines
        assert "    live:   (none)" in lines
        assert (await ctl("drift", "--exit-code")).rc == 1
        as_json = json.loads((await ctl("drift", "qwen", "--json")).out)
        assert as_json["drifted"] is True
        fields = {item["field"] for item in as_json["fields"]}
        assert {"container.args", "container.env.VLLM_LOGGING_LEVEL", "pod.recipe-hash"} <= fields
        metrics = await daemon.metrics()
        assert metric_value(metrics, "autosred_drift_fields", model="qwen") == len(fields)
        assert [event["fields"] for event in daemon.events_named("scaler.drift")] == [
            ",".join(item["field"] for item in as_json["fields"])
        ]
        values = await ctl("recipe", "helm-values", "qwen")
        assert values.rc == 0, values.err
        assert "recipeHash:" in values.out and "65536" in values.out
        # More health checks see the same drift (each recovery below is one that answered):
        # it is logged once per change, by the scaler alone, not once per check.
        for _ in range(3):
            cluster.control(api_down=True)
            await wait_degraded(daemon, True)
            cluster.control(api_down=False)
            await wait_degraded(daemon, False)
        assert len(daemon.events_named("scaler.recovered")) == 3
        assert len(daemon.events_named("scaler.drift")) == 1
        assert daemon.events_named("engine.drift") == []


async def wait_degraded(daemon: Daemon, degraded: bool) -> None:
    async with asyncio.timeout(15):
        while bool((await daemon.model("qwen"))["degraded"]) is not degraded:
            await asyncio.sleep(0.05)


async def test_api_server_away_and_back_while_ready(tmp_path: Path, cluster: FakeCluster) -> None:
    settings = config(tmp_path, cluster)
    settings["scaler"]["health_check_interval"] = 0.2
    async with running_daemon(tmp_path, settings) as daemon, aiohttp.ClientSession() as session:
        status, text, _ = await stream_chat(session, daemon, directive(text="before"))
        assert (status, text) == (200, "before")
        cluster.control(api_down=True)
        async with asyncio.timeout(15):
            while not (model := await daemon.model("qwen"))["degraded"]:
                await asyncio.sleep(0.05)
        assert model["state"] == "ready"
        # Serving goes on through the pod the daemon already knows.
        status, text, _ = await stream_chat(session, daemon, directive(text="during"))
        assert (status, text) == (200, "during")
        cluster.control(api_down=False)
        async with asyncio.timeout(15):
            while (model := await daemon.model("qwen"))["degraded"]:
                await asyncio.sleep(0.05)
        assert model["state"] == "ready"
        assert daemon.events_named("scaler.degraded") and daemon.events_named("scaler.recovered")


async def test_drift_redeploy_waits_for_the_last_stream(
    tmp_path: Path, cluster: FakeCluster
) -> None:
    settings = config(tmp_path, cluster)
    settings["scaler"]["health_check_interval"] = 0.2
    settings["drift"] = {"action": "redeploy"}
    async with running_daemon(tmp_path, settings) as daemon, aiohttp.ClientSession() as session:
        status, _, _ = await stream_chat(session, daemon, directive(text="wake"))
        assert status == 200
        (before,) = cluster.pods(label_selector=SELECTOR)
        # A stream of ~2 s is running when the recipe changes under it.
        long = asyncio.create_task(
            stream_chat(session, daemon, directive(text="s" * 40, tokens_per_second=5))
        )
        await daemon.wait_state("qwen", "ready")
        async with asyncio.timeout(5):
            while (await daemon.model("qwen"))["in_flight"] == 0:
                await asyncio.sleep(0.02)
        settings["recipes"][0]["vllm_args"] = ["--max-model-len", "16384"]
        daemon.config_path.write_text(yaml.safe_dump(settings))
        seen = len(daemon.notify.lines())
        daemon.signal(signal.SIGHUP)
        await daemon.notify.wait_for(
            "READY=1", after=await daemon.notify.wait_for("RELOADING=1", after=seen)
        )
        status, text, _ = await long
        assert (status, text) == (200, "s" * 40)  # never cut by the redeploy
        async with asyncio.timeout(30):
            while True:
                pods = cluster.pods(label_selector=SELECTOR)
                uids = {pod["metadata"]["uid"] for pod in pods}
                if uids and before["metadata"]["uid"] not in uids:
                    break
                await asyncio.sleep(0.1)
        await daemon.wait_state("qwen", "ready", timeout=30)
        reasons = [event["reason"] for event in daemon.events_named("scaler.stop_started")]
        assert reasons == ["drift"]
        assert daemon.events_named("scaler.drift")
