"""The scheduler of a one-node cluster: binds pending pods, or says why it cannot.

A pod fits when its ``nvidia.com/gpu`` requests fit next to those of the pods already bound
and not finished; a terminating pod still holds its GPU until it is gone, as on a real node,
so a model started while another is still stopping waits as Unschedulable and is bound once
the GPU frees up. ``fail=Unschedulable`` makes a pod never fit. Each pod waits at least
``schedule_delay`` after its creation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from fake_k3s.control import UNSCHEDULABLE_MESSAGE, Settings
from fake_k3s.events import EventRecorder
from fake_k3s.resources import PODS
from fake_k3s.store import JSON, Change, Store, now

GPU = "nvidia.com/gpu"


def gpu_request(pod: JSON) -> int:
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        quantity = (resources.get("requests") or {}).get(GPU) or (
            resources.get("limits") or {}
        ).get(GPU)
        if quantity is not None:
            total += int(str(quantity))
    return total


def set_condition(status: JSON, kind: str, value: bool, reason: str | None = None,
                  message: str | None = None) -> None:  # fmt: skip
    """Set a pod condition, keeping lastTransitionTime unless the status flips."""
    conditions: list[JSON] = status.setdefault("conditions", [])
    text = "True" if value else "False"
    existing = next((c for c in conditions if c.get("type") == kind), None)
    condition: JSON = {
        "type": kind,
        "status": text,
        "lastProbeTime": None,
        "lastTransitionTime": existing["lastTransitionTime"]
        if existing is not None and existing.get("status") == text
        else now(),
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    if existing is None:
        conditions.append(condition)
    else:
        conditions[conditions.index(existing)] = condition


class Scheduler:
    def __init__(
        self,
        *,
        store: Store,
        events: EventRecorder,
        profile: Callable[[str], Settings],
        settings: Callable[[], Settings],
        node_name: str,
    ) -> None:
        self._store = store
        self._events = events
        self._profile = profile
        self._settings = settings
        self._node_name = node_name
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._created: dict[str, float] = {}

    def start(self) -> None:
        self._store.listeners.append(self._on_change)
        self._task = asyncio.create_task(self._run(), name="fake-k3s.scheduler")

    def wake(self) -> None:
        self._wake.set()

    def _on_change(self, change: Change) -> None:
        if change.resource != PODS:
            return
        uid = change.object["metadata"]["uid"]
        if change.type == "ADDED":
            self._created[uid] = asyncio.get_running_loop().time()
        elif change.type == "DELETED":
            self._created.pop(uid, None)
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            next_due = self._schedule_pending(loop.time())
            if next_due is not None:
                loop.call_at(next_due, self._wake.set)

    def _schedule_pending(self, clock: float) -> float | None:
        """Bind or refuse every pending pod that is due; the time the next one is due."""
        pods = self._store.list(PODS)
        pods.sort(key=lambda p: self._created.get(p["metadata"]["uid"], 0.0))  # oldest first
        used = sum(
            gpu_request(p)
            for p in pods
            if p["spec"].get("nodeName") and p["status"].get("phase") not in ("Succeeded", "Failed")
        )
        next_due: float | None = None
        for pod in pods:
            metadata = pod["metadata"]
            if pod["spec"].get("nodeName") or metadata.get("deletionTimestamp"):
                continue
            profile = self._profile(metadata["uid"])
            due = self._created.get(metadata["uid"], clock) + profile.schedule_delay
            if due > clock:
                next_due = due if next_due is None else min(next_due, due)
                continue
            wanted = gpu_request(pod)
            if profile.fail == "Unschedulable" or used + wanted > self._settings().gpus:
                self._refuse(pod)
                continue
            used += wanted
            self._bind(pod)
        return next_due

    def _refuse(self, pod: JSON) -> None:
        status = pod["status"]
        scheduled = next(
            (c for c in status.get("conditions") or [] if c["type"] == "PodScheduled"), None
        )
        if scheduled is not None and scheduled.get("reason") == "Unschedulable":
            return  # already said so; the real scheduler only repeats itself on retries
        set_condition(status, "PodScheduled", False, "Unschedulable", UNSCHEDULABLE_MESSAGE)
        self._store.replace(PODS, pod)
        self._events.record(
            pod,
            "FailedScheduling",
            UNSCHEDULABLE_MESSAGE,
            warning=True,
            component="default-scheduler",
        )

    def _bind(self, pod: JSON) -> None:
        metadata = pod["metadata"]
        where = f"{metadata['namespace']}/{metadata['name']}"
        pod["spec"]["nodeName"] = self._node_name
        set_condition(pod["status"], "PodScheduled", True)
        bound = self._store.replace(PODS, pod)
        self._events.record(
            bound,
            "Scheduled",
            f"Successfully assigned {where} to {self._node_name}",
            component="default-scheduler",
        )

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self._store.listeners.remove(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
