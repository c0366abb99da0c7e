"""What a pod's status and events say about a wake: its phase, and whether it has failed.

Pure functions over pods and events as the API server returns them (JSON dicts), so that the
kubernetes engine's decisions are tested without a cluster. A failure is reported the moment
the kubelet or the scheduler knows it: an unschedulable pod, an image that cannot be pulled, a
container that exited (OOMKilled included) or crash-loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from autosred.engines.base import WakeProgress
from autosred.recipes.render import CONTAINER, HASH_ANNOTATION

JSON = dict[str, Any]

_PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_START_FAILURES = {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "PreCreateHookError",
    "PostStartHookError",
}
_MESSAGE_LINES = 6
_MESSAGE_CHARS = 600


def name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "?")


def is_active(pod: Mapping[str, Any]) -> bool:
    """Not being deleted and not finished: the pod a wake waits for."""
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def current_pod(pods: Iterable[Mapping[str, Any]], *, spec_hash: str | None = None) -> JSON | None:
    """The newest pod not being deleted (Failed pods count: their failure is the news); with
    ``spec_hash``, only a pod started from that spec (its recipe-hash annotation)."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    if spec_hash is not None:
        live = [p for p in live if _annotations(p).get(HASH_ANNOTATION) == spec_hash]
    if not live:
        return None
    newest = max(live, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    return dict(newest)


def pod_ip(pod: Mapping[str, Any]) -> str | None:
    ip = (pod.get("status") or {}).get("podIP")
    return str(ip) if ip else None


def is_ready(pod: Mapping[str, Any]) -> bool:
    return _condition(pod, "Ready").get("status") == "True"


def container_status(pod: Mapping[str, Any]) -> JSON:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == CONTAINER:
            return dict(status)
    return dict(statuses[0]) if statuses else {}


def is_running(pod: Mapping[str, Any]) -> bool:
    return "running" in (container_status(pod).get("state") or {})


def events_for(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> list[JSON]:
    """The events about ``pod`` (by name and, when both carry it, uid), oldest first."""
    metadata = pod.get("metadata") or {}
    name, uid = metadata.get("name"), metadata.get("uid")
    found = []
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind", "Pod") != "Pod" or involved.get("name") != name:
            continue
        if uid and involved.get("uid") and involved.get("uid") != uid:
            continue
        found.append(dict(event))
    return sorted(found, key=_event_time)


def progress(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> WakeProgress:
    """The wake's phase as the pod shows it: scheduling, scheduled, pulling image, container
    started (the engine then reports "engine loading" until the server answers)."""
    name = name_of(pod)
    mine = events_for(pod, events)
    if is_running(pod) or _last(mine, {"Started"}) is not None:
        ip = pod_ip(pod)
        where = f" at {ip}" if ip else ""
        return WakeProgress("container started", f"pod {name}{where}")
    pulling = pull_step(pod, events)
    if pulling is not None:
        return pulling
    node = (pod.get("spec") or {}).get("nodeName")
    scheduled = _last(mine, {"Scheduled"})
    if scheduled is not None or node or _condition(pod, "PodScheduled").get("status") == "True":
        return scheduled_step(pod, events)
    return WakeProgress("scheduling", f"pod {name} is waiting for a node")


def pull_step(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> WakeProgress | None:
    """The "pulling image" phase with the kubelet's last word on the pull, if it pulled."""
    pull = _last(events_for(pod, events), {"Pulling", "Pulled"})
    if pull is None:
        return None
    return WakeProgress("pulling image", str(pull.get("message") or ""))


def scheduled_step(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> WakeProgress:
    """The "scheduled" phase with the scheduler's word on it (or the node's name)."""
    scheduled = _last(events_for(pod, events), {"Scheduled"})
    if scheduled is not None:
        return WakeProgress("scheduled", str(scheduled.get("message") or ""))
    node = (pod.get("spec") or {}).get("nodeName") or "a node"
    return WakeProgress("scheduled", f"pod {name_of(pod)} on {node}")


def failure(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> str | None:
    """Why the pod cannot become ready, in words for a user; None while it still may."""
    name = name_of(pod)
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return f"pod {name} cannot be scheduled: {scheduled.get('message') or 'no node fits'}"
    status = container_status(pod)
    image = status.get("image") or _spec_image(pod)
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    if reason in _PULL_FAILURES:
        return f"pod {name} cannot pull image {image}: {reason}: {_clip(waiting.get('message'))}"
    if reason in _START_FAILURES:
        last = (status.get("lastState") or {}).get("terminated")
        why = f": last run {_termination(last)}" if last else ""
        message = waiting.get("message")
        detail = f" ({_clip(message)})" if message and not last else ""
        return f"pod {name}: container {CONTAINER} cannot start: {reason}{detail}{why}"
    terminated = (status.get("state") or {}).get("terminated")
    if terminated is None and int(status.get("restartCount") or 0) > 0:
        terminated = (status.get("lastState") or {}).get("terminated")
    if terminated is not None:
        return (
            f"pod {name}: container {CONTAINER} {_termination(terminated, when=' while starting')}"
        )
    pod_status = pod.get("status") or {}
    if pod_status.get("phase") == "Failed":
        why = pod_status.get("reason") or "Failed"
        return f"pod {name} failed: {why}: {_clip(pod_status.get('message'))}"
    for event in reversed(events_for(pod, events)):
        if event.get("type") != "Warning":
            continue
        message = _clip(event.get("message"))
        if event.get("reason") == "FailedScheduling":
            return f"pod {name} cannot be scheduled: {message}"
        if event.get("reason") in ("Failed", "BackOff") and _names_failure(message):
            return f"pod {name}: {message}"
    return None


def _names_failure(message: str) -> bool:
    return any(
        word in message
        for word in (*_PULL_FAILURES, *_START_FAILURES, "pulling image", "restarting failed")
    )


def _termination(terminated: Mapping[str, Any], *, when: str = "") -> str:
    code = terminated.get("exitCode")
    reason = terminated.get("reason") or "Error"
    if reason == "OOMKilled":
        text = f"was OOMKilled (out of memory, exit code {code})"
    elif terminated.get("signal"):
        text = f"was killed by signal {terminated.get('signal')} ({reason})"
    else:
        text = f"exited with code {code} ({reason})"
    message = _clip(terminated.get("message"))
    return f"{text}{when}: {message}" if message else f"{text}{when}"


def _clip(message: object) -> str:
    if not message:
        return ""
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    text = " | ".join(lines[-_MESSAGE_LINES:])
    return text if len(text) <= _MESSAGE_CHARS else "…" + text[-(_MESSAGE_CHARS - 1) :]


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _condition(pod: Mapping[str, Any], kind: str) -> JSON:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def _spec_image(pod: Mapping[str, Any]) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            return str(container.get("image") or "?")
    return "?"


def _last(events: Sequence[Mapping[str, Any]], reasons: set[str]) -> JSON | None:
    for event in reversed(events):
        if event.get("reason") in reasons:
            return dict(event)
    return None


def _event_time(event: Mapping[str, Any]) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


__all__ = [
    "container_status",
    "current_pod",
    "events_for",
    "failure",
    "is_active",
    "is_ready",
    "is_running",
    "name_of",
    "pod_ip",
    "progress",
    "pull_step",
    "scheduled_step",
]
