"""The kubernetes engine: a Deployment and a Service per recipe, scaled between 0 and 1.

``start`` makes the recipe's objects exist and match it (create, or merge-patch when the recipe
hash differs), starts watching the recipe's pods and the namespace's pod events, then scales the
Deployment to 1 through the scale subresource. Progress comes from the watches, never from
polling the API server: scheduling, scheduled, pulling image, container started, engine
loading, ready. A failure the cluster knows (unschedulable, image pull, crash loop, OOM, a
container exiting) ends the wake at once with WakeFailed naming the pod and the reason.

The wake completes when the pod is Ready and the server answers ``GET /health`` with 200 at its
endpoint; the daemon probes that itself (every ``engine.health_interval`` once the container
runs) rather than trusting only the kubelet's readiness period.

``stop`` scales to 0 and waits (bounded by ``engine.pod_stop_timeout``) until the pod is gone.
``observe`` finds a pod already running after a daemon restart: Ready and healthy is RUNNING,
with the fields that differ from the recipe (drift) attached.

Only kube/ talks to the API server; its errors become WakeFailed (during a wake) or
EngineUnavailable (the state cannot be known) here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from yarl import URL

from autosred.config import EngineSettings
from autosred.engines import podstatus
from autosred.engines.base import (
    EngineUnavailable,
    Observation,
    Observed,
    Ready,
    WakeFailed,
    WakeProgress,
)
from autosred.engines.health import DEFAULT_TIMEOUT, Health, HealthChecker, health_url
from autosred.kube import (
    KubeClient,
    KubeConflict,
    KubeError,
    KubeNotFound,
    RetryPolicy,
    WatchEvent,
)
from autosred.recipes import Recipe
from autosred.recipes.drift import DriftResult, compare, running_digest
from autosred.recipes.render import (
    DIGEST_ANNOTATION,
    HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    NAME_LABEL,
    NAME_VALUE,
    RenderError,
    container_port,
    label_selector,
    object_name,
    render_deployment,
    render_service,
    split_image,
)

JSON = dict[str, Any]

EVENT_SELECTOR = "involvedObject.kind=Pod"
EVENT_GRACE = 1.0
"""Seconds a failure known only from an event waits for the pod status to show it too."""


@dataclass
class _Wake:
    """What one start has seen so far."""

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


class KubernetesEngine:
    """Runs each recipe as a Deployment (0 or 1 replica) and a Service in one namespace."""

    kind = "kubernetes"

    def __init__(
        self,
        *,
        settings: EngineSettings,
        log: logging.Logger,
        client: KubeClient | None = None,
        session: aiohttp.ClientSession | None = None,
        health_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Raises KubeConfigError (a KubeError) when no credentials can be found."""
        self._settings = settings
        self._log = log
        self._client = client or KubeClient.from_config(
            kubeconfig=settings.kubeconfig,
            namespace=settings.namespace,
            log=log.getChild("kube"),
            timeout=settings.api_timeout,
            retry=RetryPolicy(budget=settings.api_retry),
        )
        self._health = HealthChecker(session=session, timeout=health_timeout)
        self._service_ips: dict[str, str] = {}

    @property
    def namespace(self) -> str:
        return self._client.namespace

    # -- queries -------------------------------------------------------------------------------

    async def observe(self, recipe: Recipe) -> Observation:
        """What runs now; raises EngineUnavailable when the API server cannot be asked."""
        name = object_name(recipe)
        try:
            live = await self._client.read_deployment(name)
        except KubeNotFound:
            return Observation(Observed.STOPPED, f"no deployment {self.namespace}/{name}")
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        try:
            pods = (await self._client.list("pods", label_selector=label_selector(recipe))).items
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        pod = podstatus.current_pod(pods)
        replicas = int((live.get("spec") or {}).get("replicas") or 0)
        if pod is None:
            if replicas == 0:
                return Observation(Observed.STOPPED, f"deployment {name} is scaled to 0")
            return Observation(Observed.STARTING, f"deployment {name} has no pod yet")
        why = podstatus.failure(pod)
        if why is not None:
            return Observation(Observed.FAILED, why)
        pod_name = podstatus.name_of(pod)
        if not podstatus.is_ready(pod):
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            return Observation(Observed.STARTING, f"pod {pod_name} is {phase}, not Ready")
        url = await self._endpoint_of(recipe, pod)
        if url is None:
            return Observation(Observed.STARTING, f"pod {pod_name} has no address yet")
        health = await self._health.check(health_url(url, self._settings.health_path))
        if not health.ok:
            return Observation(
                Observed.STARTING, f"pod {pod_name} is Ready but {url}: {health.reason}"
            )
        result = compare(self._render(recipe), live, pod)
        detail = f"pod {pod_name} answering at {url}"
        if result.drifted:
            fields = ", ".join(item.field for item in result.fields)
            detail += f"; differs from the recipe in {fields}"
        return Observation(Observed.RUNNING, detail, endpoint=url, drift=result.fields)

    async def drift(self, recipe: Recipe) -> DriftResult:
        """The recipe's rendered Deployment against the live one and its pod (data: the scaler
        logs and exports drift); raises EngineUnavailable."""
        try:
            want = self._render(recipe)
        except RenderError as exc:
            raise EngineUnavailable(str(exc)) from exc
        live, pod = await self.live_objects(recipe)
        return compare(want, live, pod)

    async def live_objects(self, recipe: Recipe) -> tuple[JSON | None, JSON | None]:
        """The recipe's Deployment and its current pod as the API server has them (None when
        absent); raises EngineUnavailable."""
        try:
            live: JSON | None = await self._client.read_deployment(object_name(recipe))
        except KubeNotFound:
            return None, None
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        try:
            listing = await self._client.list("pods", label_selector=label_selector(recipe))
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        return live, podstatus.current_pod(listing.items)

    # -- start ---------------------------------------------------------------------------------

    async def start(self, recipe: Recipe) -> AsyncGenerator[WakeProgress, None]:
        name = object_name(recipe)
        try:
            want = self._render(recipe)
            service = render_service(recipe, namespace=self.namespace)
        except RenderError as exc:
            raise WakeFailed(str(exc)) from exc
        yield WakeProgress("deploying", f"deployment {self.namespace}/{name}")
        try:
            await self._ensure_service(recipe, service)
            live = await self._ensure_deployment(recipe, want)
        except KubeError as exc:
            raise WakeFailed(f"{recipe.name}: {exc.message}") from exc
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
            async for step in self._follow(recipe, live, queue):
                yield step
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _follow(
        self,
        recipe: Recipe,
        live: JSON,
        queue: asyncio.Queue[tuple[str, WatchEvent] | BaseException],
    ) -> AsyncIterator[WakeProgress]:
        name = object_name(recipe)
        template = (live.get("spec") or {}).get("template") or {}
        wake = _Wake(
            spec_hash=((template.get("metadata") or {}).get("annotations") or {}).get(
                HASH_ANNOTATION
            )
        )
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
                await self._scale(recipe, 1, what="scale up")
                scaled = True
                self._log.info(
                    "engine.scaled_up",
                    extra={"fields": {"model": recipe.name, "deployment": name}},
                )
                step = WakeProgress("scaling up", f"deployment {self.namespace}/{name} to 1")
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
                    await self._record_digest(recipe, live, pod)
                    drift = compare(self._render(recipe), live, pod).fields
                    yield replace(step, drift=drift)
                    return
            if step != last:
                last = step
                yield step

    def _skipped(self, step: WakeProgress, pod: JSON, wake: _Wake) -> list[WakeProgress]:
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
        self, recipe: Recipe, pod: JSON, wake: _Wake, started: WakeProgress
    ) -> WakeProgress:
        """Once the container runs: probe the server directly; ready when it answers 200 and
        the pod is Ready (the Service routes to Ready pods only)."""
        url = await self._endpoint_of(recipe, pod)
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

    # -- objects -------------------------------------------------------------------------------

    def _render(self, recipe: Recipe) -> JSON:
        return render_deployment(recipe, namespace=self.namespace)

    async def _ensure_deployment(self, recipe: Recipe, want: JSON) -> JSON:
        """Create the Deployment, or patch it to the recipe when its hash differs; the live
        object is returned. Replicas are left alone (they change through the scale call)."""
        name = want["metadata"]["name"]
        try:
            live = await self._client.read_deployment(name)
        except KubeNotFound:
            try:
                created = await self._client.create_deployment(want)
            except KubeConflict:
                live = await self._client.read_deployment(name)
            else:
                self._log.info(
                    "engine.deployment_created",
                    extra={"fields": {"model": recipe.name, "deployment": name}},
                )
                return created
        labels = (live.get("metadata") or {}).get("labels") or {}
        if labels.get(NAME_LABEL) != NAME_VALUE:
            raise WakeFailed(
                f"{recipe.name}: deployment {self.namespace}/{name} exists but is not autosred's "
                f"(it lacks the label {NAME_LABEL}={NAME_VALUE}); rename the recipe or remove it"
            )
        want_hash = want["metadata"]["annotations"][HASH_ANNOTATION]
        live_template = (live.get("spec") or {}).get("template") or {}
        live_hash = ((live_template.get("metadata") or {}).get("annotations") or {}).get(
            HASH_ANNOTATION
        )
        if live_hash == want_hash:
            return live
        patch: JSON = {
            "metadata": {
                "labels": want["metadata"]["labels"],
                "annotations": want["metadata"]["annotations"],
            },
            "spec": {key: value for key, value in want["spec"].items() if key != "replicas"},
        }
        # A merge patch keeps keys it does not mention: clear the optional ones explicitly.
        pod_spec = patch["spec"]["template"]["spec"]
        pod_spec.setdefault("runtimeClassName", None)
        patched = await self._client.patch_deployment(name, patch)
        self._log.info(
            "engine.deployment_updated",
            extra={
                "fields": {
                    "model": recipe.name,
                    "deployment": name,
                    "from_hash": str(live_hash)[:12],
                    "to_hash": want_hash[:12],
                }
            },
        )
        return patched

    async def _ensure_service(self, recipe: Recipe, want: JSON) -> None:
        name = want["metadata"]["name"]
        try:
            live = await self._client.read_service(name)
        except KubeNotFound:
            try:
                live = await self._client.create_service(want)
            except KubeConflict:
                live = await self._client.read_service(name)
            else:
                self._log.info(
                    "engine.service_created",
                    extra={
                        "fields": {
                            "model": recipe.name,
                            "service": name,
                            "cluster_ip": (live.get("spec") or {}).get("clusterIP"),
                        }
                    },
                )
        spec = live.get("spec") or {}
        pinned = recipe.service.cluster_ip
        if pinned and spec.get("clusterIP") != pinned:
            # ClusterIP is immutable: it takes deleting the Service, which the daemon does
            # not do behind an operator's back.
            message = (
                f"service {self.namespace}/{name} has ClusterIP {spec.get('clusterIP')}, the "
                f"recipe pins {pinned}; delete the Service to let autosred recreate it"
            )
            if self._settings.reach == "service":
                raise WakeFailed(f"{recipe.name}: {message}")
            self._log.warning(
                "engine.service_ip_mismatch",
                extra={"fields": {"model": recipe.name, "why": message}},
            )
        want_spec = want["spec"]
        if spec.get("ports") != want_spec["ports"] or spec.get("selector") != want_spec["selector"]:
            live = await self._client.patch_service(
                name, {"spec": {"ports": want_spec["ports"], "selector": want_spec["selector"]}}
            )
        cluster_ip = (live.get("spec") or {}).get("clusterIP")
        if self._settings.reach == "service" and cluster_ip and cluster_ip != "None":
            self._service_ips[recipe.name] = str(cluster_ip)

    async def _endpoint_of(self, recipe: Recipe, pod: JSON) -> URL | None:
        if self._settings.reach == "pod":
            ip = podstatus.pod_ip(pod)
            if ip is None:
                return None
            return URL.build(scheme="http", host=ip, port=container_port(recipe))
        ip = self._service_ips.get(recipe.name) or recipe.service.cluster_ip
        if ip is None:
            try:
                service = await self._client.read_service(object_name(recipe))
            except KubeError:
                return None
            ip = (service.get("spec") or {}).get("clusterIP")
            if not ip or ip == "None":
                return None
            self._service_ips[recipe.name] = str(ip)
        return URL.build(scheme="http", host=str(ip), port=recipe.service.port)

    async def _record_digest(self, recipe: Recipe, live: JSON, pod: JSON) -> None:
        """Remember the digest the recipe's tag resolved to (once; a later pod running
        another digest is then drift)."""
        assert recipe.image is not None
        tag, pinned = split_image(recipe.image)
        digest = running_digest(pod)
        if pinned or digest is None:
            return
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        if annotations.get(IMAGE_ANNOTATION) == tag and annotations.get(DIGEST_ANNOTATION):
            return
        patch = {"metadata": {"annotations": {IMAGE_ANNOTATION: tag, DIGEST_ANNOTATION: digest}}}
        try:
            updated = await self._client.patch_deployment(object_name(recipe), patch)
        except KubeError as exc:
            self._log.warning(
                "engine.digest_not_recorded",
                extra={"fields": {"model": recipe.name, "error": exc.message}},
            )
            return
        live.clear()
        live.update(updated)
        self._log.info(
            "engine.digest_recorded",
            extra={"fields": {"model": recipe.name, "image": tag, "digest": digest}},
        )

    async def _scale(self, recipe: Recipe, replicas: int, *, what: str) -> None:
        try:
            await self._client.scale_deployment(object_name(recipe), replicas)
        except KubeError as exc:
            raise WakeFailed(f"{recipe.name}: {what}: {exc.message}") from exc

    # -- stop ----------------------------------------------------------------------------------

    async def stop(self, recipe: Recipe) -> None:
        """Scale to 0 and wait until the recipe's pods are gone (bounded); idempotent.

        Raises EngineUnavailable when the API server cannot be reached."""
        name = object_name(recipe)
        try:
            await self._client.scale_deployment(name, 0)
        except KubeNotFound:
            return
        except KubeError as exc:
            raise EngineUnavailable(f"{recipe.name}: scale down: {exc.message}") from exc
        self._log.info(
            "engine.scaled_down", extra={"fields": {"model": recipe.name, "deployment": name}}
        )
        timeout = self._settings.pod_stop_timeout
        try:
            async with asyncio.timeout(timeout):
                await self._until_no_pods(recipe)
        except TimeoutError:
            self._log.warning(
                "engine.pod_stop_slow",
                extra={"fields": {"model": recipe.name, "timeout": timeout}},
            )
        except KubeError as exc:
            raise EngineUnavailable(
                f"{recipe.name}: waiting for the pod to go: {exc.message}"
            ) from exc

    async def _until_no_pods(self, recipe: Recipe) -> None:
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

    async def aclose(self) -> None:
        await self._health.aclose()
        await self._client.aclose()


def check_names(recipes: Iterable[Recipe]) -> list[str]:
    """Recipes whose Kubernetes object names collide (``a.b`` and ``a-b``)."""
    seen: dict[str, str] = {}
    problems = []
    for recipe in recipes:
        name = object_name(recipe)
        if name in seen and seen[name] != recipe.name:
            problems.append(
                f"recipes {seen[name]!r} and {recipe.name!r} would both be deployed as {name!r}"
            )
        seen.setdefault(name, recipe.name)
    return problems


__all__ = ["EVENT_SELECTOR", "KubernetesEngine", "check_names"]
