"""What pod status and events say about a wake (pure functions, no cluster)."""

from __future__ import annotations

from typing import Any

from autosred.engines.podstatus import current_pod, events_for, failure, progress

POD = "m-5d9c7-x2x4q"


def pod(
    *,
    conditions: list[dict[str, Any]] | None = None,
    state: dict[str, Any] | None = None,
    last: dict[str, Any] | None = None,
    restarts: int = 0,
    node: str | None = None,
    ip: str | None = None,
    phase: str = "Pending",
    **metadata: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if ip:
        status["podIP"] = ip
    if state is not None:
        status["containerStatuses"] = [
            {
                "name": "vllm",
                "image": "vllm/vllm-openai:v0.24.0",
                "state": state,
                "lastState": {"terminated": last} if last else {},
                "restartCount": restarts,
            }
        ]
    spec: dict[str, Any] = {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.24.0"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": POD, "uid": "u1", **metadata}, "spec": spec, "status": status}


def event(reason: str, message: str, *, kind: str = "Normal", name: str = POD) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Pod", "name": name, "uid": "u1"},
        "reason": reason,
        "message": message,
        "type": kind,
        "lastTimestamp": "2026-01-01T00:00:00Z",
    }


def test_phases_follow_the_pod() -> None:
    assert progress(pod(), []).phase == "scheduling"
    scheduled = event("Scheduled", f"Successfully assigned default/{POD} to k3s")
    assert progress(pod(node="k3s"), [scheduled]).detail.endswith("to k3s")
    pulling = event("Pulling", 'Pulling image "vllm/vllm-openai:v0.24.0"')
    step = progress(pod(node="k3s", state={"waiting": {"reason": "ContainerCreating"}}), [
        scheduled,
        pulling,
    ])  # fmt: skip
    assert (step.phase, step.detail) == (
        "pulling image",
        'Pulling image "vllm/vllm-openai:v0.24.0"',
    )
    running = pod(node="k3s", ip="127.1.0.5", state={"running": {}}, phase="Running")
    assert progress(running, [scheduled, pulling]).phase == "container started"
    assert "127.1.0.5" in progress(running, []).detail
    # Events of other pods do not count.
    assert progress(pod(), [event("Pulling", "x", name="other")]).phase == "scheduling"


def test_unschedulable() -> None:
    unschedulable = pod(
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.",
            }
        ]
    )
    assert failure(unschedulable) == (
        f"pod {POD} cannot be scheduled: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    )
    by_event = event("FailedScheduling", "0/1 nodes are available", kind="Warning")
    assert failure(pod(), [by_event]) == f"pod {POD} cannot be scheduled: 0/1 nodes are available"


def test_image_pull_failures() -> None:
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}}
    assert failure(pod(state=waiting)) == (
        f"pod {POD} cannot pull image vllm/vllm-openai:v0.24.0: ImagePullBackOff: "
        'Back-off pulling image "x"'
    )


def test_containers_that_exit() -> None:
    oom = pod(state={"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
    assert failure(oom) == (
        f"pod {POD}: container vllm was OOMKilled (out of memory, exit code 137) while starting"
    )
    crashed = pod(
        state={"running": {}},
        restarts=1,
        last={"exitCode": 1, "reason": "Error", "message": "line 1\nValueError: bad model\n"},
    )
    assert failure(crashed) == (
        f"pod {POD}: container vllm exited with code 1 (Error) while starting: line 1 | "
        "ValueError: bad model"
    )
    looping = pod(
        state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}},
        restarts=3,
        last={"exitCode": 1, "reason": "Error"},
    )
    assert failure(looping) == (
        f"pod {POD}: container vllm cannot start: CrashLoopBackOff: last run exited with code 1 "
        "(Error)"
    )


def test_healthy_and_loading_pods_have_not_failed() -> None:
    assert failure(pod()) is None
    assert failure(pod(state={"waiting": {"reason": "ContainerCreating"}})) is None
    assert failure(pod(state={"running": {}}, phase="Running")) is None
    assert failure(pod(), [event("Unhealthy", "Readiness probe failed", kind="Warning")]) is None


def test_the_current_pod_is_the_newest_not_deleting() -> None:
    old = pod(creationTimestamp="2026-01-01T00:00:00Z")
    old["metadata"]["name"] = "old"
    new = pod(creationTimestamp="2026-01-01T00:00:05Z")
    leaving = pod(creationTimestamp="2026-01-01T00:00:09Z", deletionTimestamp="x")
    leaving["metadata"]["name"] = "leaving"
    chosen = current_pod([old, new, leaving])
    assert chosen is not None and chosen["metadata"]["name"] == POD
    assert current_pod([leaving]) is None
    assert events_for(new, [event("Pulling", "a"), event("Pulling", "b", name="x")]) == [
        event("Pulling", "a")
    ]
