"""Injected failures, as a client sees them in pod status and events."""

from __future__ import annotations

from typing import Any

from fake_k3s import UNSCHEDULABLE_MESSAGE, FakeCluster
from tests.fakes_tests.support import NS, Kube, deployment, ready


def _waiting(pod: Any) -> str | None:
    statuses = pod.status.container_statuses or []
    waiting = statuses[0].state.waiting if statuses else None
    return waiting.reason if waiting is not None else None


def _scheduled(pod: Any) -> Any:
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


async def _events(kube: Kube, pod: Any) -> list[Any]:
    listed = await kube(
        kube.core.list_namespaced_event,
        NS,
        field_selector=f"involvedObject.name={pod.metadata.name}",
    )
    return sorted(listed.items, key=lambda e: int(e.metadata.resource_version))


async def test_unschedulable(cluster: FakeCluster, kube: Kube) -> None:
    cluster.control(fail="Unschedulable")
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    seen = await kube.pod_events(
        label_selector="app=m",
        until=lambda t, p: _scheduled(p) is not None and _scheduled(p).status == "False",
    )
    pod = seen[-1][1]
    condition = _scheduled(pod)
    assert condition.reason == "Unschedulable" and condition.message == UNSCHEDULABLE_MESSAGE
    assert (
        pod.status.phase == "Pending" and pod.spec.node_name is None and pod.status.pod_ip is None
    )
    (event,) = await _events(kube, pod)
    assert (event.reason, event.type, event.message) == (
        "FailedScheduling",
        "Warning",
        UNSCHEDULABLE_MESSAGE,
    )
    assert event.source.component == "default-scheduler"
    assert cluster.sims() == {}


async def test_image_pull_back_off(cluster: FakeCluster, kube: Kube) -> None:
    cluster.control(fail="ImagePullBackOff")
    await kube(
        kube.apps.create_namespaced_deployment,
        NS,
        deployment("m", replicas=1, image="ghcr.io/x/nope:1"),
    )
    seen = await kube.pod_events(
        label_selector="app=m", until=lambda t, p: _waiting(p) == "ImagePullBackOff"
    )
    reasons = [_waiting(p) for _, p in seen]
    assert reasons.index("ErrImagePull") < reasons.index("ImagePullBackOff")
    pod = seen[-1][1]
    assert pod.status.phase == "Pending" and pod.status.container_statuses[0].image_id == ""
    assert "Back-off pulling image" in pod.status.container_statuses[0].state.waiting.message
    events = [(e.reason, e.message) for e in await _events(kube, pod)]
    assert ("Failed", "Error: ErrImagePull") in events
    assert any(
        r == "Failed" and m.startswith('Failed to pull image "ghcr.io/x/nope:1"') for r, m in events
    )
    assert ("BackOff", 'Back-off pulling image "ghcr.io/x/nope:1"') in events
    assert "Pulled" not in [r for r, _ in events] and cluster.sims() == {}


async def test_crash_loop_back_off(cluster: FakeCluster, kube: Kube) -> None:
    cluster.control(fail="CrashLoopBackOff")
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    seen = await kube.pod_events(
        label_selector="app=m",
        until=lambda t, p: (
            _waiting(p) == "CrashLoopBackOff" and p.status.container_statuses[0].restart_count >= 2
        ),
    )
    pod = seen[-1][1]
    status = pod.status.container_statuses[0]
    terminated = status.last_state.terminated
    assert (terminated.exit_code, terminated.reason) == (1, "Error")
    assert status.ready is False and pod.status.phase == "Running"
    assert any(
        p.status.container_statuses and p.status.container_statuses[0].state.terminated
        for _, p in seen
    )
    events = await _events(kube, pod)
    back_off = [e for e in events if e.reason == "BackOff"]
    assert back_off[0].type == "Warning" and back_off[0].message.startswith(
        "Back-off restarting failed container vllm"
    )
    (started,) = [e for e in events if e.reason == "Started"]
    assert started.count >= 2  # repeats fold into one Event, as the real recorder does
    previous = await kube(kube.core.read_namespaced_pod_log, pod.metadata.name, NS, previous=True)
    assert "start_failed" in previous and "SIMULATED" in previous


async def test_oom_killed(cluster: FakeCluster, kube: Kube) -> None:
    cluster.control(fail="OOMKilled", start_delay=0.3)
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("m", replicas=1))
    seen = await kube.pod_events(
        label_selector="app=m", until=lambda t, p: _waiting(p) == "CrashLoopBackOff"
    )
    status = seen[-1][1].status.container_statuses[0]
    terminated = status.last_state.terminated
    assert (terminated.exit_code, terminated.reason) == (137, "OOMKilled")
    assert status.restart_count == 1


async def test_failures_apply_to_pods_created_after_the_change(
    cluster: FakeCluster, kube: Kube
) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("good", replicas=1, gpus=0))
    await kube.pod_events(label_selector="app=good", until=ready)
    assert cluster.control(fail="CrashLoopBackOff")["fail"] == "CrashLoopBackOff"
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("bad", replicas=1, gpus=0))
    await kube.pod_events(
        label_selector="app=bad", until=lambda t, p: _waiting(p) == "CrashLoopBackOff"
    )
    listed = await kube(kube.core.list_namespaced_pod, NS, label_selector="app=good")
    (good,) = listed.items
    assert (
        good.status.container_statuses[0].ready
        and good.status.container_statuses[0].restart_count == 0
    )


async def test_a_second_gpu_pod_waits_for_the_first_to_go(cluster: FakeCluster, kube: Kube) -> None:
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("one", replicas=1))
    await kube.pod_events(label_selector="app=one", until=ready)
    await kube(kube.apps.create_namespaced_deployment, NS, deployment("two", replicas=1))
    seen = await kube.pod_events(
        label_selector="app=two",
        until=lambda t, p: _scheduled(p) is not None and _scheduled(p).status == "False",
    )
    assert "Insufficient nvidia.com/gpu" in _scheduled(seen[-1][1]).message
    await kube(kube.apps.patch_namespaced_deployment_scale, "one", NS, {"spec": {"replicas": 0}})
    seen = await kube.pod_events(label_selector="app=two", until=ready)
    assert seen[-1][1].spec.node_name
    assert [p["metadata"]["labels"]["app"] for p in cluster.pods()] == ["two"]
