"""The kubernetes engine: a Deployment and a Service per recipe, scaled between 0 and 1.

``start`` makes the recipe's objects exist and match it (kubeobjects.py: create, or
merge-patch when the recipe hash differs), then follows the wake (kubewake.py: watches, the
scale to 1, phases, failures the cluster knows, the daemon's own health probe) to ``Ready`` at
the server's endpoint, with the fields in which what runs differs from the recipe (drift, as
data: the scaler logs and exports it).

``stop`` scales to 0 and waits (bounded by ``engine.pod_stop_timeout``) until the pod is gone.
``observe`` finds a pod already running after a daemon restart: Ready and healthy is RUNNING,
with its endpoint and its drift attached.

Only kube/ talks to the API server, through the KubeClient the daemon builds (the composition
root, autosred/daemon/engines.py); its errors become WakeFailed (during a wake) or
EngineUnavailable (the state cannot be known) here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Collection, Iterable
from dataclasses import replace
from pathlib import Path

import aiohttp

from autosred.config import EngineSettings
from autosred.engines import podstatus
from autosred.engines.base import (
    AppliedObject,
    EngineUnavailable,
    Observation,
    Observed,
    Ready,
    WakeFailed,
    WakeProgress,
)
from autosred.engines.health import DEFAULT_TIMEOUT, HealthChecker, health_url
from autosred.engines.kubeapply import apply_recipe
from autosred.engines.kubeobjects import JSON, KubeObjects
from autosred.engines.kubewake import EVENT_SELECTOR, Wake, WakeFollower
from autosred.kube import KubeClient, KubeError, KubeNotFound
from autosred.recipes import Recipe
from autosred.recipes.drift import DriftResult, compare
from autosred.recipes.render import (
    RenderError,
    label_selector,
    object_name,
    render_service,
)


class KubernetesEngine:
    """Runs each recipe as a Deployment (0 or 1 replica) and a Service in one namespace."""

    kind = "kubernetes"

    def __init__(
        self,
        *,
        settings: EngineSettings,
        log: logging.Logger,
        client: KubeClient,
        session: aiohttp.ClientSession | None = None,
        health_timeout: float = DEFAULT_TIMEOUT,
        proc_root: Path = Path("/proc"),
    ) -> None:
        """``client`` is the engine's from now on: closed by ``aclose``. ``proc_root``: where
        the host's processes are read (their cgroup names the pod they run in)."""
        self._proc_root = proc_root
        self._settings = settings
        self._log = log
        self._client = client
        self._health = HealthChecker(session=session, timeout=health_timeout)
        self._objects = KubeObjects(client=client, settings=settings, log=log)
        self._follower = WakeFollower(
            client=client, objects=self._objects, health=self._health, settings=settings, log=log
        )

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
        url = await self._objects.endpoint_of(recipe, pod)
        if url is None:
            return Observation(Observed.STARTING, f"pod {pod_name} has no address yet")
        health = await self._health.check(health_url(url, self._settings.health_path))
        if not health.ok:
            return Observation(
                Observed.STARTING, f"pod {pod_name} is Ready but {url}: {health.reason}"
            )
        result = compare(self._objects.render(recipe), live, pod)
        detail = f"pod {pod_name} answering at {url}"
        if result.drifted:
            fields = ", ".join(item.field for item in result.fields)
            detail += f"; differs from the recipe in {fields}"
        return Observation(Observed.RUNNING, detail, endpoint=url, drift=result.fields)

    async def drift(self, recipe: Recipe) -> DriftResult:
        """The recipe's rendered Deployment against the live one and its pod (data: the scaler
        logs and exports drift); raises EngineUnavailable."""
        try:
            want = self._objects.render(recipe)
        except RenderError as exc:
            raise EngineUnavailable(str(exc)) from exc
        live, pod = await self._objects.live_objects(recipe)
        return compare(want, live, pod)

    async def server_processes(self, recipe: Recipe, pids: Collection[int]) -> set[int]:
        """The pids running in the recipe's current pod, when its node is this host: a
        container's processes are in a cgroup whose path names the pod's UID (with dashes, or
        with underscores under the systemd cgroup driver). Raises EngineUnavailable."""
        try:
            listing = await self._client.list("pods", label_selector=label_selector(recipe))
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        pod = podstatus.current_pod(listing.items)
        uid = str((pod or {}).get("metadata", {}).get("uid") or "")
        if not uid or not pids:
            return set()
        marks = (uid, uid.replace("-", "_"))
        return {pid for pid in pids if _cgroup_names(self._proc_root, pid, marks)}

    async def log_tail(self, recipe: Recipe, lines: int) -> list[str]:
        """The current pod's last log lines (the API server's ``tailLines``); [] without a
        pod; raises EngineUnavailable."""
        try:
            listing = await self._client.list("pods", label_selector=label_selector(recipe))
        except KubeError as exc:
            raise EngineUnavailable(exc.message) from exc
        pod = podstatus.current_pod(listing.items)
        if pod is None or lines <= 0:
            return []
        try:
            text = await self._client.read_pod_log(podstatus.name_of(pod), tail_lines=lines)
        except KubeNotFound:
            return []  # gone between the two calls
        except KubeError as exc:
            # A pod whose container has not started has no log yet (400 from the API server).
            raise EngineUnavailable(exc.message) from exc
        return text.splitlines()[-lines:]

    async def live_objects(self, recipe: Recipe) -> tuple[JSON | None, JSON | None]:
        """The recipe's Deployment and its current pod (None when absent); raises
        EngineUnavailable."""
        return await self._objects.live_objects(recipe)

    async def apply(self, recipe: Recipe, *, dry_run: bool, force: bool) -> list[AppliedObject]:
        """``autosrectl recipe apply``: server-side apply of the recipe's objects
        (kubeapply.py); raises ApplyRefused or EngineUnavailable."""
        objects = await apply_recipe(self._client, recipe, dry_run=dry_run, force=force)
        if not dry_run:
            self._log.info(
                "engine.recipe_applied",
                extra={
                    "fields": {
                        "model": recipe.name,
                        "force": force,
                        **{obj.kind.lower(): obj.action for obj in objects},
                    }
                },
            )
        return objects

    # -- start ---------------------------------------------------------------------------------

    async def start(self, recipe: Recipe) -> AsyncGenerator[WakeProgress, None]:
        name = object_name(recipe)
        try:
            want = self._objects.render(recipe)
            service = render_service(recipe, namespace=self.namespace)
        except RenderError as exc:
            raise WakeFailed(str(exc)) from exc
        yield WakeProgress("deploying", f"deployment {self.namespace}/{name}")
        try:
            await self._objects.ensure_service(recipe, service)
            live = await self._objects.ensure_deployment(recipe, want)
        except KubeError as exc:
            raise WakeFailed(f"{recipe.name}: {exc.message}") from exc
        wake = Wake.of(live)
        async for step in self._follower.follow(recipe, wake):
            pod = wake.pod()  # at Ready: the pod of this spec that is ready
            if isinstance(step, Ready) and pod is not None:
                await self._objects.record_digest(recipe, live, pod)
                yield replace(step, drift=compare(want, live, pod).fields)
            else:
                yield step

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
                await self._follower.until_no_pods(recipe)
        except TimeoutError:
            self._log.warning(
                "engine.pod_stop_slow",
                extra={"fields": {"model": recipe.name, "timeout": timeout}},
            )
        except KubeError as exc:
            raise EngineUnavailable(
                f"{recipe.name}: waiting for the pod to go: {exc.message}"
            ) from exc

    async def aclose(self) -> None:
        await self._health.aclose()
        await self._client.aclose()


def _cgroup_names(proc_root: Path, pid: int, marks: tuple[str, ...]) -> bool:
    try:
        text = (proc_root / str(pid) / "cgroup").read_text(errors="replace")
    except OSError:  # gone, or another namespace's
        return False
    return any(mark in text for mark in marks)


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
