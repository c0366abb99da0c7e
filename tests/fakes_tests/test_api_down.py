"""The API server going away and coming back; the /__control endpoint."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from fake_k3s import FakeCluster
from fake_k3s.resources import NODES
from tests.fakes_tests.support import NS, Kube, deployment, ready, status_body


async def test_api_down_503_cuts_watches_keeps_pods_serving_then_restores(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    pod = (await kube.pod_events(label_selector="app=m", until=ready))[-1][1]

    ended = threading.Event()
    outcome: list[Any] = []

    def watch_forever() -> None:
        stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            for _ in stream.stream(kube.core.list_namespaced_pod, NS):
                pass
            outcome.append("ended")
        except Exception as exc:
            outcome.append(exc)
        finally:
            ended.set()

    thread = threading.Thread(target=watch_forever, daemon=True)
    thread.start()
    await asyncio.sleep(0.3)
    assert cluster.control(api_down=True)["api_down"] == "503"
    await asyncio.to_thread(ended.wait, 5)
    assert ended.is_set(), "the open watch was cut"
    # The client reconnects from its last version and meets the outage (or the cut itself).
    assert outcome and outcome[0] != "ended", outcome

    with pytest.raises(ApiException) as down:
        await kube(kube.core.list_namespaced_pod, NS)
    assert down.value.status == 503 and status_body(down.value)["reason"] == "ServiceUnavailable"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://{pod.status.pod_ip}:8000/health") as response:
            assert response.status == 200  # the node keeps serving without its API server
        async with http.get(f"{cluster.url}/__control") as response:
            assert (await response.json())["api_down"] == "503"  # control answers while down

    cluster.control(api_down=False)
    listed = await kube(kube.core.list_namespaced_pod, NS)
    assert [p.metadata.name for p in listed.items] == [pod.metadata.name]


async def test_api_down_reset_drops_connections(cluster: FakeCluster, kube: Kube) -> None:
    kube.api_client.configuration.retries = 0
    cluster.control(api_down="reset")
    with pytest.raises(Exception) as caught:
        await kube(kube.core.list_namespaced_pod, NS)
    assert not isinstance(caught.value, ApiException)  # no HTTP answer at all
    cluster.control(api_down=False)
    await kube(kube.core.list_namespaced_pod, NS)


async def test_control_endpoint(cluster: FakeCluster) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{cluster.url}/__control") as response:
            settings = await response.json()
        assert settings["fail"] == "none" and settings["api_down"] is False
        body = {"pull_delay": 2, "start_delay": 3.5, "fail": "OOMKilled", "gpus": 2}
        async with http.post(f"{cluster.url}/__control", json=body) as response:
            assert response.status == 200
            updated = await response.json()
        assert {k: updated[k] for k in body} == body
        assert cluster.settings.fail == "OOMKilled"
        for bad in ({"fail": "Sometimes"}, {"pull_delay": -1}, {"nope": 1}, {"api_down": "later"}):
            async with http.post(f"{cluster.url}/__control", json=bad) as response:
                assert response.status == 400
                assert "error" in await response.json()
        async with http.post(f"{cluster.url}/__control", data=b"[1]") as response:
            assert response.status == 400
    node = cluster.store.find(NODES, None, "fake-k3s-node")
    assert node is not None and node["status"]["capacity"]["nvidia.com/gpu"] == "2"
