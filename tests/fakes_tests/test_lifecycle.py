"""A Deployment's life through the official client: scale 0 -> 1 -> Ready -> 0."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp

from fake_k3s import FakeCluster, image_digest
from tests.fakes_tests.support import NS, Kube, deleted, deployment, eventually, ready


async def test_scale_up_watch_until_ready_reach_sim_scale_down(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("qwen", args=[
        "serve", "nvidia/Qwen3", "--served-model-name", "qwen3", "--port", "8000",
        "--max-model-len", "4096",
    ]))  # fmt: skip
    listed = await kube(kube.core.list_namespaced_pod, NS, label_selector="app=qwen")
    scale = await kube(
        kube.apps.patch_namespaced_deployment_scale, "qwen", NS, {"spec": {"replicas": 1}}
    )
    assert scale.spec.replicas == 1

    seen = await kube.pod_events(
        label_selector="app=qwen", until=ready, resource_version=listed.metadata.resource_version
    )
    types = [t for t, _ in seen]
    assert types[0] == "ADDED" and set(types[1:]) == {"MODIFIED"}
    pods = [p for _, p in seen]
    assert pods[0].status.phase == "Pending" and not pods[0].spec.node_name
    waiting = [
        p
        for p in pods
        if p.status.container_statuses and p.status.container_statuses[0].state.waiting
    ]
    assert waiting[0].status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    pod = pods[-1]
    assert pod.metadata.name.startswith("qwen-") and len(pod.metadata.name.split("-")) == 3
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.metadata.labels["app"] == "qwen" and "pod-template-hash" in pod.metadata.labels
    assert pod.metadata.annotations == {"autosred.io/recipe-hash": "h1"}
    assert pod.status.phase == "Running"
    status = pod.status.container_statuses[0]
    assert status.ready and status.started and status.state.running is not None
    assert status.image_id == image_digest("vllm/vllm-openai:v0.24.0")
    assert pod.status.pod_ip.startswith("127.") and pod.status.pod_ip != "127.0.0.1"

    # The sim listens where the pod spec says: podIP:containerPort, serving the served name.
    base = f"http://{pod.status.pod_ip}:8000"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/health") as response:
            assert response.status == 200
        async with http.get(f"{base}/v1/models") as response:
            models = await response.json()
    assert models["data"][0]["id"] == "qwen3" and models["data"][0]["max_model_len"] == 4096

    events = await kube(
        kube.core.list_namespaced_event,
        NS,
        field_selector=f"involvedObject.name={pod.metadata.name}",
    )
    ordered = sorted(events.items, key=lambda e: int(e.metadata.resource_version))
    assert [e.reason for e in ordered] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]

    live = await kube(kube.apps.read_namespaced_deployment, "qwen", NS)
    assert live.metadata.generation == 2  # the scale changed spec.replicas
    assert live.status.observed_generation == 2
    assert live.status.ready_replicas == 1 and live.status.available_replicas == 1
    assert live.status.replicas == 1

    pid = cluster.sims()[pod.metadata.name]
    await kube(kube.apps.patch_namespaced_deployment_scale, "qwen", NS, {"spec": {"replicas": 0}})
    since = pod.metadata.resource_version
    gone = await kube.pod_events(label_selector="app=qwen", until=deleted, resource_version=since)
    terminating = [p for t, p in gone if t == "MODIFIED" and p.metadata.deletion_timestamp]
    assert terminating, "the pod is seen terminating before it goes"
    assert gone[-1][0] == "DELETED"
    assert cluster.pods() == [] and cluster.sims() == {}
    await eventually(lambda: not _alive(pid))
    with socket.socket() as probe:
        assert probe.connect_ex((pod.status.pod_ip, 8000)) != 0
    reasons = [e["reason"] for e in cluster.events_for(pod.metadata.name)]
    assert "Killing" in reasons
    final = await kube(kube.apps.read_namespaced_deployment, "qwen", NS)
    assert final.status.replicas is None and final.status.ready_replicas is None  # omitempty


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone once reaped or marked Z.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_deleting_the_deployment_removes_replicaset_pods_and_sims(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    await eventually(lambda: cluster.sims(), timeout=10)
    result = await kube(kube.apps.delete_namespaced_deployment, "m", NS)
    assert result["kind"] == "Status" and result["status"] == "Success"  # an untyped dict
    await eventually(lambda: not cluster.pods() and not cluster.sims(), timeout=10)
    replicasets = await kube(kube.apps.list_namespaced_replica_set, NS)
    assert replicasets.items == []


async def test_template_change_recreates_the_pod(cluster: FakeCluster, kube: Kube) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    first = await kube.pod_events(label_selector="app=m", until=ready)
    old_name = first[-1][1].metadata.name
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.25.0"}]}
            }
        }
    }
    await kube(kube.apps.patch_namespaced_deployment, "m", NS, patch)

    def new_ready() -> bool:
        pods = cluster.pods(label_selector="app=m")
        return len(pods) == 1 and pods[0]["metadata"]["name"] != old_name and _ready(pods[0])

    await eventually(new_ready, timeout=15)
    (pod,) = cluster.pods(label_selector="app=m")
    assert pod["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.25.0"
    assert pod["status"]["containerStatuses"][0]["imageID"] == image_digest(
        "vllm/vllm-openai:v0.25.0"
    )
    replicasets = await kube(kube.apps.list_namespaced_replica_set, NS, label_selector="app=m")
    assert sorted(rs.spec.replicas for rs in replicasets.items) == [0, 1]
    live = await kube(kube.apps.read_namespaced_deployment, "m", NS)
    assert live.metadata.generation == 2 and live.status.updated_replicas == 1


def _ready(pod: dict[str, object]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])  # type: ignore[attr-defined]
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def test_service_with_loopback_cluster_ip_reaches_the_ready_pod(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    pinned = "127.43.250.7"
    service = {
        "metadata": {"name": "m"},
        "spec": {
            "clusterIP": pinned,
            "selector": {"app": "m"},
            "ports": [{"port": 8011, "targetPort": "http"}],
        },
    }
    created = await kube(kube.core.create_namespaced_service, NS, service)
    assert created.spec.cluster_ip == pinned and created.spec.cluster_ips == [pinned]
    await kube.pod_events(label_selector="app=m", until=ready)
    async with aiohttp.ClientSession() as http:

        async def health() -> int:
            try:
                async with http.get(f"http://{pinned}:8011/health") as response:
                    return response.status
            except aiohttp.ClientError:
                return 0

        for _ in range(50):
            if await health() == 200:
                break
            await asyncio.sleep(0.05)
        assert await health() == 200


async def test_deleted_pods_are_replaced_and_grace_zero_is_immediate(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    first = (await kube.pod_events(label_selector="app=m", until=ready))[-1][1]
    log = await kube(kube.core.read_namespaced_pod_log, first.metadata.name, NS, tail_lines=5)
    assert "SIMULATED" in log or "ready" in log

    terminating = await kube(kube.core.delete_namespaced_pod, first.metadata.name, NS)
    assert terminating.metadata.deletion_timestamp is not None
    assert terminating.metadata.deletion_grace_period_seconds == 30
    # The ReplicaSet replaces it; with one GPU the new pod runs once the old one is gone.
    second = (
        await kube.pod_events(
            label_selector="app=m",
            until=lambda t, p: ready(t, p) and p.metadata.name != first.metadata.name,
        )
    )[-1][1]
    assert [p["metadata"]["name"] for p in cluster.pods()] == [second.metadata.name]

    pid = cluster.sims()[second.metadata.name]
    gone = await kube(
        kube.core.delete_namespaced_pod, second.metadata.name, NS, grace_period_seconds=0
    )
    assert gone.metadata.name == second.metadata.name
    assert second.metadata.name not in [p["metadata"]["name"] for p in cluster.pods()]
    await eventually(lambda: not _alive(pid))
