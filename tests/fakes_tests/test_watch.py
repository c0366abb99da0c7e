"""Watch semantics: replay from a resourceVersion, 410 Expired, bookmarks, timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from fake_k3s import FakeCluster
from tests.fakes_tests.support import NS, Kube, deployment


def _drain(kube: Kube, fn: Any, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every event of one watch request (it ends at timeout_seconds)."""
    stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
    return list(stream.stream(fn, *args, **kwargs))


async def test_watch_replays_from_a_resource_version(kube: Kube) -> None:
    listed = await kube(kube.apps.list_namespaced_deployment, NS)
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("a"))
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("b"))
    events = await asyncio.to_thread(
        _drain, kube, kube.apps.list_namespaced_deployment, NS,
        resource_version=listed.metadata.resource_version, timeout_seconds=1,
    )  # fmt: skip
    added = [e["object"].metadata.name for e in events if e["type"] == "ADDED"]
    assert added == ["a", "b"]
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    # Without a version the watch starts with the current objects.
    fresh = await asyncio.to_thread(
        _drain,
        kube,
        kube.apps.list_namespaced_deployment,
        NS,
        label_selector="app=b",
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in fresh] == [("ADDED", "b")]


async def test_expired_resource_version_is_410(cluster: FakeCluster, kube: Kube) -> None:
    listed = await kube(kube.core.list_namespaced_pod, NS)
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("a"))
    cluster.control(compact=True)
    with pytest.raises(ApiException) as gone:
        await asyncio.to_thread(
            _drain, kube, kube.core.list_namespaced_pod, NS,
            resource_version=listed.metadata.resource_version, timeout_seconds=1,
        )  # fmt: skip
    assert gone.value.status == 410 and "too old resource version" in str(gone.value.reason)


async def test_raw_stream_bookmarks_and_timeout(cluster: FakeCluster) -> None:
    cluster.control(bookmark_interval=0.2)
    url = f"{cluster.url}/api/v1/namespaces/{NS}/pods"
    params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "1"}
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith(
            "application/json"
        )
        assert response.headers.get("Transfer-Encoding") == "chunked"
        lines = [json.loads(line) async for line in response.content if line.strip()]
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3
    bookmarks = [line for line in lines if line["type"] == "BOOKMARK"]
    assert len(bookmarks) >= 2
    assert bookmarks[-1]["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(cluster.store.resource_version)},
    }


async def test_event_watch_with_field_selector(cluster: FakeCluster, kube: Kube) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("a", replicas=1, gpus=0))
    selector = "involvedObject.kind=ReplicaSet"
    events = await asyncio.to_thread(
        _drain,
        kube,
        kube.core.list_namespaced_event,
        NS,
        field_selector=selector,
        timeout_seconds=1,
    )
    assert events and {e["object"].involved_object.kind for e in events} == {"ReplicaSet"}
    assert events[0]["object"].reason == "SuccessfulCreate"
