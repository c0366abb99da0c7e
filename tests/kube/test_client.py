"""kube/: the facade over the official client, against the fake k3s and small real servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from autosred.kube import (
    KubeClient,
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
    RetryPolicy,
    WatchEvent,
)
from autosred.recipes import Recipe
from autosred.recipes.render import render_deployment
from fake_k3s import FakeCluster, kubeconfig_document, running_cluster

LOG = logging.getLogger("tests.kube")
FAST: dict[str, Any] = {"pull_delay": 0.0, "start_delay": 0.0, "schedule_delay": 0.0}


def client_for(kubeconfig: Path, *, budget: float = 2.0) -> KubeClient:
    return KubeClient.from_config(
        kubeconfig=kubeconfig,
        namespace="default",
        log=LOG,
        timeout=5.0,
        retry=RetryPolicy(budget=budget, initial=0.05, maximum=0.2),
        environ={},
    )


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    async with running_cluster(tmp_path, **FAST) as running:
        yield running


@pytest.fixture
async def kube(cluster: FakeCluster) -> AsyncIterator[KubeClient]:
    assert cluster.kubeconfig is not None
    client = client_for(cluster.kubeconfig)
    yield client
    await client.aclose()


def deployment(name: str = "m") -> dict[str, Any]:
    recipe = Recipe.model_validate(
        {"name": name, "model": "org/m", "image": "vllm/vllm-openai:v0.24.0", "gpu": {"count": 0}}
    )
    return render_deployment(recipe)


async def test_objects_round_trip_as_plain_dicts(kube: KubeClient) -> None:
    want = deployment()
    created = await kube.create_deployment(want)
    assert isinstance(created, dict)
    read = await kube.read_deployment("m")
    assert read["spec"]["template"] == created["spec"]["template"]
    container = read["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == want["spec"]["template"]["spec"]["containers"][0]["args"]
    scaled = await kube.scale_deployment("m", 0)
    assert scaled["spec"]["replicas"] == 0
    # A merge patch replaces lists whole and leaves unnamed keys alone.
    patched = await kube.patch_deployment(
        "m", {"metadata": {"annotations": {"x": "1"}}, "spec": {"revisionHistoryLimit": 5}}
    )
    assert patched["metadata"]["annotations"]["x"] == "1"
    assert patched["spec"]["revisionHistoryLimit"] == 5
    assert patched["spec"]["strategy"] == {"type": "Recreate"}


async def test_errors_are_our_own(kube: KubeClient) -> None:
    with pytest.raises(KubeNotFound, match="deployment nope: "):
        await kube.read_deployment("nope")
    await kube.create_deployment(deployment())
    with pytest.raises(KubeConflict, match="already exists"):
        await kube.create_deployment(deployment())
    bad = deployment()
    bad["metadata"]["name"] = "Not_A_Name"
    with pytest.raises(KubeInvalid) as caught:
        await kube.create_deployment(bad)
    assert caught.value.status == 422
    for error in (KubeNotFound, KubeConflict, KubeInvalid):
        assert issubclass(error, KubeError)


async def test_an_unreachable_server_fails_after_the_budget(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_document(f"http://127.0.0.1:{port}")))
    client = client_for(path, budget=0.5)
    started = time.monotonic()
    with pytest.raises(KubeUnavailable) as caught:
        await client.read_deployment("m")
    elapsed = time.monotonic() - started
    await client.aclose()
    assert 0.4 < elapsed < 3
    assert caught.value.message == (
        f"deployment m: cannot reach the Kubernetes API at http://127.0.0.1:{port}: "
        "connection refused"
    )


async def test_retry_after_is_honoured(tmp_path: Path) -> None:
    calls: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return web.json_response(
                {"kind": "Status", "code": 429, "message": "slow down"},
                status=429,
                headers={"Retry-After": "1"},
            )
        return web.json_response(deployment())

    app = web.Application()
    app.router.add_get("/apis/apps/v1/namespaces/default/deployments/m", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_document(f"http://127.0.0.1:{port}")))
    client = client_for(path, budget=5)
    try:
        body = await client.read_deployment("m")
    finally:
        await client.aclose()
        await runner.cleanup()
    assert body["metadata"]["name"] == "m"
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.95  # not the 50 ms backoff: the server's Retry-After


async def test_stream_lists_then_watches(kube: KubeClient, cluster: FakeCluster) -> None:
    events: list[WatchEvent] = []
    stream = kube.stream("pods", label_selector="autosred.io/recipe=m")
    async with contextlib.aclosing(stream):
        async with asyncio.timeout(15):
            async for event in stream:
                events.append(event)
                if event.type == "SYNCED":
                    await kube.create_deployment(deployment())
                    await kube.scale_deployment("m", 1)
                if event.type == "ADDED":
                    break
    assert [e.type for e in events] == ["SYNCED", "ADDED"]
    assert events[1].object["metadata"]["labels"]["autosred.io/recipe"] == "m"


async def test_an_expired_watch_lists_again(kube: KubeClient, cluster: FakeCluster) -> None:
    await kube.create_deployment(deployment())
    seen: list[str] = []
    stream = kube.stream("pods", label_selector="autosred.io/recipe=m")
    async with contextlib.aclosing(stream):
        async with asyncio.timeout(15):
            async for event in stream:
                seen.append(event.type)
                if seen == ["SYNCED"]:
                    # While the stream is not read: its watch is cut, the cluster moves on and
                    # forgets its history. Reading again, the stream reconnects from a
                    # resourceVersion that has expired (410), so it lists again.
                    cluster.control(api_down="reset")
                    await asyncio.sleep(0.2)
                    cluster.control(api_down=False)
                    await kube.scale_deployment("m", 1)
                    cluster.control(compact=True)
                if seen.count("SYNCED") == 2:
                    break
    assert seen[:2] == ["SYNCED", "RESET"], seen
    assert seen[-1] == "SYNCED"


async def test_closing_a_stream_ends_its_thread(kube: KubeClient) -> None:
    stream = kube.stream("events")
    async with contextlib.aclosing(stream):
        async for event in stream:
            if event.type == "SYNCED":
                break
    await asyncio.sleep(0.05)  # the watch request is under way on its thread
    async with asyncio.timeout(5):
        while any(t.name.startswith("kube-watch:") for t in threading.enumerate()):
            await asyncio.sleep(0.02)


def test_no_credentials_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match=r"no kubeconfig at .*not running in a pod"):
        client_for(tmp_path / "missing.yaml")
    with pytest.raises(KubeConfigError, match="in-cluster Kubernetes credentials"):
        KubeClient.from_config(
            kubeconfig=None,
            namespace="default",
            log=LOG,
            environ={"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1"},
        )
    broken = tmp_path / "broken.yaml"
    broken.write_text("clusters: 7\n")
    with pytest.raises(KubeConfigError, match=r"engine\.kubeconfig: "):
        client_for(broken)
