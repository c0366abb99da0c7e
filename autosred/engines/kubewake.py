"""Following one wake of the kubernetes engine: from "scaled up" to ready, or to a failure.

The follower watches the recipe's pods and the namespace's pod events (never polling the API
server), scales the Deployment up once both watches are synced (so no event of the new pod can
be missed), and turns what it sees into progress: scheduling, scheduled, pulling image,
container started, engine loading, ready. A failure the cluster knows (unschedulable, image
pull, crash loop, OOM, a container exiting) ends the wake at once with WakeFailed naming the
pod and the reason. Once the container runs it probes ``GET /health`` itself (every
``engine.health_interval``) rather than trusting only the kubelet's readiness period; the wake
ends with ``Ready`` at the server's endpoint.

What the objects are (render, apply, scale, the endpoint's address) is kubeobjects.py's job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from autosred.config import EngineSettings
from autosred.engines import podstatus
from autosred.engines.base import Ready, WakeFailed, WakeProgress
from autosred.engines.health import Health, HealthChecker, health_url
from autosred.engines.kubeobjects import KubeObjects
from autosred.kube import KubeClient, KubeError, WatchEvent
from autosred.recipes import Recipe
from autosred.recipes.render import HASH_ANNOTATION, label_selector, object_name

JSON = dict[str, Any]

EVENT_SELECTOR = "involvedObject.kind=Pod"
EVENT_GRACE = 1.0
"""Seconds a failure known only from an event waits for the pod status to show it too."""


@dataclass
class Wake:
    """What one start has seen so far; after ``Ready``, ``pod()`` is the pod that is ready."""

    spec_hash: str | None = None
    pods: dict[str, JSON] = field(default_factory=dict)
    events: list[JSON] = field(default_factory=list)
    synced: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)
    container_started: bool = False
    event_failure_at: float | None = None
    """When an event first reported a failure the pod's status did not show yet."""
    health: Health | None = None
    health_url: URL | None = None

    @classmethod
    def of(cls, live: JSON) -> Wake:
        """A wake of the Deployment ``live`` as applied: only its spec's pods count."""
        template = (live.get("spec") or {}).get("template") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        return cls(spec_hash=annotations.get(HASH_ANNOTATION))

    def pod(self) -> JSON | None:
        # Only a pod of the spec this wake deployed: while a patched Deployment replaces its
        # pod, the old one (still Ready for a moment) must not end the wake.
        return podstatus.current_pod(self.pods.values(), spec_hash=self.spec_hash)

    def apply(self, source: str, event: WatchEvent) -> None:
        if event.type == "SYNCED":
            self.synced.add(source)
            return
        if source == "pods":
            if event.type == "RESET":
                self.pods.clear()
            elif event.type == "DELETED":
                self.pods.pop(podstatus.name_of(event.object), None)
            else:
                self.pods[podstatus.name_of(event.object)] = event.object
        elif event.type in ("ADDED", "MODIFIED"):
            self.events.append(event.object)
            del self.events[:-500]  # a busy namespace: the recent ones are those that matter


class WakeFollower:
    """Follows a recipe's pods through a wake until its server is ready."""

    def __init__(
        self,
        *,
        client: KubeClient,
        objects: KubeObjects,
        health: HealthChecker,
        settings: EngineSettings,
        log: logging.Logger,
    ) -> None:
        self._client = client
        self._objects = objects
        self._health = health
        self._settings = settings
        self._log = log

    async def follow(self, recipe: Recipe, wake: Wake) -> AsyncGenerator[WakeProgress, None]:
        """Watch, scale up, and yield progress until ``Ready``; raises WakeFailed."""
        queue: asyncio.Queue[tuple[str, WatchEvent] | BaseException] = asyncio.Queue()
        selector = label_selector(recipe)
        pumps = [
            asyncio.create_task(
                self._pump("pods", self._client.stream("pods", label_selector=selector), queue),
                name=f"engine.watch_pods:{recipe.name}",
            ),
            asyncio.create_task(
                self._pump(
                    "events", self._client.stream("events", field_selector=EVENT_SELECTOR), queue
                ),
                name=f"engine.watch_events:{recipe.name}",
            ),
        ]
        try:
            async for step in self._follow(recipe, wake, queue):
                yield step
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _follow(
        self,
        recipe: Recipe,
        wake: Wake,
        queue: asyncio.Queue[tuple[str, WatchEvent] | BaseException],
    ) -> AsyncIterator[WakeProgress]:
        name = object_name(recipe)
        scaled = False
        last: WakeProgress | None = None
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            pod = wake.pod()
            timeout = None
            if pod is not None and podstatus.is_running(pod):
                timeout = self._settings.health_interval
            if wake.event_failure_at is not None:
                remaining = max(0.0, wake.event_failure_at + EVENT_GRACE - loop.time())
                timeout = remaining if timeout is None else min(timeout, remaining)
            try:
                item = await asyncio.wait_for(queue.get(), timeout=timeout)
            except TimeoutError:
                item = None
            if isinstance(item, BaseException):
                message = item.message if isinstance(item, KubeError) else repr(item)
                raise WakeFailed(f"{recipe.name}: watching its pod failed: {message}") from item
            if item is not None:
                wake.apply(*item)
                # Drain what else arrived before deciding (one decision per burst).
                while not queue.empty():
                    more = queue.get_nowait()
                    if isinstance(more, BaseException):
                        queue.put_nowait(more)
                        break
                    wake.apply(*more)
            if not scaled:
                if wake.synced != {"pods", "events"}:
                    continue
                # Watching first, then scaling: no event of the new pod can be missed.
                await self._objects.scale(recipe, 1, what="scale up")
                scaled = True
                self._log.info(
                    "engine.scaled_up",
                    extra={"fields": {"model": recipe.name, "deployment": name}},
                )
                step = WakeProgress(
                    "scaling up", f"deployment {self._objects.namespace}/{name} to 1"
                )
                last = step
                yield step
                continue
            pod = wake.pod()
            if pod is None:
                continue
            why = podstatus.failure(pod)
            if why is None and podstatus.failure(pod, wake.events) is not None:
                # An event said it first; the pod's status (exit code, message) follows within
                # moments and says it better: wait for it, briefly.
                if wake.event_failure_at is None:
                    wake.event_failure_at = loop.time()
                elif loop.time() >= wake.event_failure_at + EVENT_GRACE:
                    why = podstatus.failure(pod, wake.events)
            if why is not None:
                self._log.warning(
                    "engine.pod_failed",
                    extra={
                        "fields": {
                            "model": recipe.name,
                            "pod": podstatus.name_of(pod),
                            "reason": why,
                        }
                    },
                )
                raise WakeFailed(why)
            step = podstatus.progress(pod, wake.events)
            # Two watches and bursts of changes: a phase may have passed between two looks.
            # Report it anyway, in order, so every wake tells the same story.
            for skipped in self._skipped(step, pod, wake):
                last = skipped
                yield skipped
            if step.phase == "container started":
                if not wake.container_started:
                    wake.container_started = True
                    last = step
                    yield step
                step = await self._check_health(recipe, pod, wake, step)
                if isinstance(step, Ready):
                    self._log.info(
                        "engine.pod_ready",
                        extra={
                            "fields": {
                                "model": recipe.name,
                                "pod": podstatus.name_of(pod),
                                "endpoint": str(step.url),
                                "seconds": round(loop.time() - started, 3),
                            }
                        },
                    )
                    yield step
                    return
            if step != last:
                last = step
                yield step

    def _skipped(self, step: WakeProgress, pod: JSON, wake: Wake) -> list[WakeProgress]:
        order = ("scheduling", "scheduled", "pulling image", "container started")
        if step.phase not in order:
            return []
        reached = order.index(step.phase)
        missed = []
        if reached > order.index("scheduled") and "scheduled" not in wake.reported:
            missed.append(podstatus.scheduled_step(pod, wake.events))
        if reached > order.index("pulling image") and "pulling image" not in wake.reported:
            pulling = podstatus.pull_step(pod, wake.events)
            if pulling is not None:
                missed.append(pulling)
        wake.reported.update(item.phase for item in missed)
        wake.reported.add(step.phase)
        return missed

    async def _check_health(
        self, recipe: Recipe, pod: JSON, wake: Wake, started: WakeProgress
    ) -> WakeProgress:
        """Once the container runs: probe the server directly; ready when it answers 200 and
        the pod is Ready (the Service routes to Ready pods only)."""
        url = await self._objects.endpoint_of(recipe, pod)
        if url is None:
            return started
        target = health_url(url, self._settings.health_path)
        health = await self._health.check(target)
        wake.health, wake.health_url = health, target
        if health.ok and podstatus.is_ready(pod):
            return Ready("ready", f"{target} answered 200; pod {podstatus.name_of(pod)}", url=url)
        if health.ok:
            return WakeProgress(
                "engine loading", f"{target} answers 200; waiting for the pod to turn Ready"
            )
        return WakeProgress("engine loading", f"{target}: {health.reason}")

    async def _pump(
        self,
        source: str,
        stream: AsyncGenerator[WatchEvent, None],
        queue: asyncio.Queue[tuple[str, WatchEvent] | BaseException],
    ) -> None:
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    queue.put_nowait((source, event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            queue.put_nowait(exc)

    async def until_no_pods(self, recipe: Recipe) -> None:
        """Return once the recipe has no pod (a watch, from a synced listing)."""
        pods: dict[str, JSON] = {}
        synced = False
        stream = self._client.stream("pods", label_selector=label_selector(recipe))
        async with contextlib.aclosing(stream):
            async for event in stream:
                if event.type == "RESET":
                    pods.clear()
                    synced = False
                elif event.type == "SYNCED":
                    synced = True
                elif event.type == "DELETED":
                    pods.pop(podstatus.name_of(event.object), None)
                else:
                    pods[podstatus.name_of(event.object)] = event.object
                if synced and not pods:
                    self._log.info("engine.pod_gone", extra={"fields": {"model": recipe.name}})
                    return
