"""The kubelet of the one node: runs the pods bound to it and reports their status.

Per pod, as a real kubelet would show it: sandbox (podIP assigned, containers waiting in
ContainerCreating), image pull (Pulling, then Pulled after ``pull_delay``), container
Created/Started (phase Running; the first container runs as an autosred-sim process), the
readiness probe polling the container's /health every ``probe_interval`` until it answers
(Ready), and on deletion Killing, SIGTERM, SIGKILL after the grace period, then removal.

Injected failures (the pod's settings at creation): ImagePullBackOff (ErrImagePull, then
ImagePullBackOff, retried every ``backoff``), CrashLoopBackOff (the sim exits 1 after its
start-up delay; lastState.terminated, restartCount, waiting CrashLoopBackOff, restarted after
``backoff``), OOMKilled (the sim is SIGKILLed ``start_delay`` after it starts: exitCode 137,
reason OOMKilled, then CrashLoopBackOff). Only the first container runs a sim; any other
container (a sidecar) is reported running and ready without a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from fake_k3s.containers import ServerArgs, SimProcess, server_args
from fake_k3s.control import Settings
from fake_k3s.errors import bad_request
from fake_k3s.events import EventRecorder
from fake_k3s.network import PodAddresses
from fake_k3s.resources import PODS
from fake_k3s.scheduler import set_condition
from fake_k3s.store import JSON, Change, Store, now

log = logging.getLogger("fake_k3s.kubelet")

_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                    "PodScheduled")  # fmt: skip
_PROBE_TIMEOUT = aiohttp.ClientTimeout(total=1.0)


def image_digest(image: str) -> str:
    """The fake ``imageID``: stable per image reference, so a client can record and compare it."""
    return f"docker-pullable://{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _full_reference(image: str) -> str:
    first, _, rest = image.partition("/")
    if not rest:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


@dataclass
class ContainerRun:
    """The kubelet's record of one container of a pod, across restarts."""

    spec: JSON
    restart_count: int = 0
    state: JSON = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: JSON = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    image_id: str = ""
    container_id: str | None = None
    started_at: str | None = None
    process: SimProcess | None = None
    previous_output: list[str] | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def image(self) -> str:
        return str(self.spec["image"])

    def status(self) -> JSON:
        status: JSON = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status


def _probe_target(container: JSON, args: ServerArgs) -> tuple[str, int]:
    """(path, port) of the readiness probe: the container's httpGet probe, else /health."""
    for key in ("readinessProbe", "startupProbe"):
        http = (container.get(key) or {}).get("httpGet")
        if isinstance(http, dict):
            port = http.get("port", args.port)
            if isinstance(port, str):
                named = [
                    p["containerPort"]
                    for p in container.get("ports") or []
                    if p.get("name") == port
                ]
                port = named[0] if named else args.port
            return str(http.get("path") or "/"), int(port)
    return "/health", args.port


class PodWorker:
    def __init__(self, kubelet: Kubelet, pod: JSON, profile: Settings) -> None:
        self._kubelet = kubelet
        metadata = pod["metadata"]
        self.namespace: str = metadata["namespace"]
        self.name: str = metadata["name"]
        self.uid: str = metadata["uid"]
        self.profile = profile
        self.terminating = asyncio.Event()
        self.removing = False
        self.containers = [ContainerRun(c) for c in pod["spec"]["containers"]]
        self.ip: str | None = None
        self.phase = "Pending"
        self.start_time: str | None = None
        self.task: asyncio.Task[None] | None = None

    # -- plumbing -----------------------------------------------------------------------------

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the pod is deleted meanwhile; False if it is."""
        if self.terminating.is_set():
            return False
        try:
            await asyncio.wait_for(self.terminating.wait(), seconds)
        except TimeoutError:
            return True
        return False

    def _current(self) -> JSON | None:
        pod = self._kubelet.store.find(PODS, self.namespace, self.name)
        return pod if pod is not None and pod["metadata"]["uid"] == self.uid else None

    def _publish(self) -> None:
        pod = self._current()
        if pod is None:
            return
        status = pod.setdefault("status", {})
        status["phase"] = self.phase
        status["hostIP"] = self._kubelet.node_ip
        status["hostIPs"] = [{"ip": self._kubelet.node_ip}]
        if self.ip:
            status["podIP"] = self.ip
            status["podIPs"] = [{"ip": self.ip}]
        if self.start_time:
            status["startTime"] = self.start_time
        unready = [c.name for c in self.containers if not c.ready]
        message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        reason = "ContainersNotReady" if unready else None
        if self.phase in ("Succeeded", "Failed"):
            reason = "PodCompleted"
        set_condition(status, "PodReadyToStartContainers", self.ip is not None)
        set_condition(status, "Initialized", True)
        set_condition(status, "Ready", not unready, reason, message)
        set_condition(status, "ContainersReady", not unready, reason, message)
        status["conditions"].sort(
            key=lambda c: _CONDITION_ORDER.index(c["type"]) if c["type"] in _CONDITION_ORDER else 99
        )
        status["containerStatuses"] = [c.status() for c in self.containers]
        self._kubelet.store.replace(PODS, pod)

    def _event(
        self, reason: str, message: str, container: ContainerRun, *, warning: bool = False
    ) -> None:
        pod = self._current()
        if pod is not None:
            self._kubelet.events.record(
                pod,
                reason,
                message,
                warning=warning,
                field_path=f"spec.containers{{{container.name}}}",
            )

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            main_args = server_args(self.containers[0].spec)
            self.ip = self._kubelet.addresses.allocate([main_args.port])
            self.start_time = now()
            self._publish()
            if await self._pull_images():
                await self._run_containers(main_args)
            await self._shut_down()
        finally:
            for container in self.containers:
                if container.process is not None and container.process.running:
                    await container.process.kill()
            self._kubelet.forget(self)

    async def _pull_images(self) -> bool:
        """Pull each container's image (failing as injected); False if deleted meanwhile."""
        profile = self.profile
        for container in self.containers:
            image = container.image
            while True:
                self._event("Pulling", f'Pulling image "{image}"', container)
                if not await self._pause(profile.pull_delay):
                    return False
                if profile.fail != "ImagePullBackOff":
                    break
                ref = _full_reference(image)
                error = (
                    f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to '
                    f'pull and unpack image "{ref}": failed to resolve reference "{ref}": {ref}: '
                    "not found"
                )
                container.state = {"waiting": {"reason": "ErrImagePull", "message": error}}
                self._event("Failed", error, container, warning=True)
                self._event("Failed", "Error: ErrImagePull", container, warning=True)
                self._publish()
                if not await self._pause(profile.backoff / 2):
                    return False
                back_off = f'Back-off pulling image "{image}"'
                container.state = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f"{back_off}: ErrImagePull: {error}",
                    }
                }
                self._event("BackOff", back_off, container)
                self._event("Failed", "Error: ImagePullBackOff", container, warning=True)
                self._publish()
                if not await self._pause(profile.backoff):
                    return False
            container.image_id = image_digest(image)
            took = f"{profile.pull_delay:.3f}s"
            size = int(hashlib.sha256(image.encode()).hexdigest()[:6], 16) * 1000
            self._event(
                "Pulled",
                f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
                f"Image size: {size} bytes.",
                container,
            )
        return True

    def _mark_running(self, container: ContainerRun) -> None:
        container.started_at = now()
        container.container_id = f"containerd://{secrets.token_hex(32)}"
        container.state = {"running": {"startedAt": container.started_at}}
        # Without a startup probe a container counts as started as soon as it runs.
        container.started = "startupProbe" not in container.spec
        self.phase = "Running"

    async def _run_containers(self, main_args: ServerArgs) -> None:
        main, *sidecars = self.containers
        for sidecar in sidecars:
            self._event("Created", f"Created container: {sidecar.name}", sidecar)
            self._mark_running(sidecar)
            sidecar.started = sidecar.ready = True
            self._event("Started", f"Started container {sidecar.name}", sidecar)
        while True:
            self._event("Created", f"Created container: {main.name}", main)
            process = SimProcess(label=f"{self.namespace}/{self.name}/{main.name}")
            fail = self.profile.fail
            delay = self.profile.start_delay
            await process.start(
                host=self.ip or "127.0.0.1",
                args=main_args,
                # An OOM-killed server never finishes loading: it dies at start_delay.
                startup_delay=delay + 3600 if fail == "OOMKilled" else delay,
                fail_start="simulated crash (fake cluster fail=CrashLoopBackOff)"
                if fail == "CrashLoopBackOff"
                else None,
            )
            main.process = process
            self._mark_running(main)
            self._publish()
            self._event("Started", f"Started container {main.name}", main)
            outcome = await self._supervise(main, main_args)
            if outcome is None:
                return
            code, reason = outcome
            terminated = {
                "exitCode": code,
                "reason": reason,
                "startedAt": main.started_at,
                "finishedAt": now(),
                "containerID": main.container_id,
            }
            main.ready = main.started = False
            main.state = {"terminated": terminated}
            self._publish()
            main.previous_output = list(process.output)
            main.last_state = {"terminated": terminated}
            main.restart_count += 1
            pod_ref = f"{self.name}_{self.namespace}({self.uid})"
            back_off = (
                f"back-off {self.profile.backoff:g}s restarting failed "
                f"container={main.name} pod={pod_ref}"
            )
            main.state = {"waiting": {"reason": "CrashLoopBackOff", "message": back_off}}
            self._publish()
            self._event(
                "BackOff",
                f"Back-off restarting failed container {main.name} in pod {pod_ref}",
                main,
                warning=True,
            )
            if not await self._pause(self.profile.backoff):
                return
            self._event(
                "Pulled", f'Container image "{main.image}" already present on machine', main
            )

    async def _supervise(self, main: ContainerRun, args: ServerArgs) -> tuple[int, str] | None:
        """Probe the running container until it exits (exit code, reason) or the pod is
        deleted (None)."""
        assert main.process is not None
        process = main.process
        oom_killed = False

        def oom_kill() -> None:
            nonlocal oom_killed
            oom_killed = True
            process.signal(signal.SIGKILL)

        loop = asyncio.get_running_loop()
        timer = (
            loop.call_later(self.profile.start_delay, oom_kill)
            if self.profile.fail == "OOMKilled"
            else None
        )
        exited = asyncio.create_task(process.wait())
        deleted = asyncio.create_task(self.terminating.wait())
        probing = asyncio.create_task(self._probe(main, args))
        try:
            await asyncio.wait({exited, deleted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (deleted, probing, exited):
                task.cancel()
            await asyncio.gather(deleted, probing, exited, return_exceptions=True)
            if timer is not None:
                timer.cancel()
        if self.terminating.is_set():
            return None
        code = await process.wait()
        if oom_killed:
            return code, "OOMKilled"
        return code, "Completed" if code == 0 else "Error"

    async def _probe(self, main: ContainerRun, args: ServerArgs) -> None:
        path, port = _probe_target(main.spec, args)
        url = f"http://{self.ip}:{port}{path}"
        threshold = int((main.spec.get("readinessProbe") or {}).get("failureThreshold", 3))
        failures = 0
        while True:
            await asyncio.sleep(self.profile.probe_interval)
            if await self._kubelet.http_ok(url):
                failures = 0
                if not main.ready:
                    main.ready = main.started = True
                    log.info("pod %s/%s: ready at %s", self.namespace, self.name, url)
                    self._publish()
            else:
                failures += 1
                if main.ready and failures >= threshold:
                    main.ready = False
                    self._event(
                        "Unhealthy", f"Readiness probe failed: GET {url} failed", main, warning=True
                    )
                    self._publish()

    async def _shut_down(self) -> None:
        pod = self._current()
        grace = float((pod or {}).get("metadata", {}).get("deletionGracePeriodSeconds") or 30)
        grace = min(grace, self.profile.max_grace)
        codes = []
        for container in self.containers:
            if "running" not in container.state:
                continue
            self._event("Killing", f"Stopping container {container.name}", container)
            code = await container.process.stop(grace) if container.process is not None else 0
            codes.append(code)
            container.ready = False
            container.state = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": container.started_at,
                    "finishedAt": now(),
                    "containerID": container.container_id,
                }
            }
        for container in self.containers:
            container.ready = False
        self.phase = "Failed" if any(codes) else "Succeeded"
        self._publish()
        if self._current() is not None:
            self.removing = True
            self._kubelet.store.remove(PODS, self.namespace, self.name)


class Kubelet:
    def __init__(
        self,
        *,
        store: Store,
        events: EventRecorder,
        addresses: PodAddresses,
        profile: Callable[[str], Settings],
        node_name: str,
        node_ip: str = "127.0.0.1",
    ) -> None:
        self.store = store
        self.events = events
        self.addresses = addresses
        self.node_ip = node_ip
        self._profile = profile
        self._node_name = node_name
        self._workers: dict[str, PodWorker] = {}
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=_PROBE_TIMEOUT)
        self.store.listeners.append(self._on_change)

    def _on_change(self, change: Change) -> None:
        if change.resource != PODS:
            return
        pod = change.object
        uid = pod["metadata"]["uid"]
        worker = self._workers.get(uid)
        if change.type == "DELETED":
            # Removed without the kubelet (grace period 0): kill the containers now.
            if worker is not None and not worker.removing and worker.task is not None:
                worker.task.cancel()
            return
        if worker is None and (pod.get("spec") or {}).get("nodeName") == self._node_name:
            worker = PodWorker(self, pod, self._profile(uid))
            self._workers[uid] = worker
            worker.task = asyncio.create_task(worker.run(), name=f"fake-k3s.pod:{worker.name}")
        if worker is not None and pod["metadata"].get("deletionTimestamp"):
            worker.terminating.set()

    def forget(self, worker: PodWorker) -> None:
        if self._workers.get(worker.uid) is worker:
            del self._workers[worker.uid]

    async def http_ok(self, url: str) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(url) as response:
                return 200 <= response.status < 400
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    def sims(self) -> dict[str, int]:
        """Pod name -> pid of its running sim."""
        running = {}
        for worker in self._workers.values():
            process = worker.containers[0].process
            if process is not None and process.running and process.pid is not None:
                running[worker.name] = process.pid
        return running

    def logs(self, namespace: str, name: str, container: str | None, previous: bool) -> list[str]:
        pod = self.store.get(PODS, namespace, name)
        worker = self._workers.get(pod["metadata"]["uid"])
        names = [c["name"] for c in pod["spec"]["containers"]]
        wanted = container or names[0]
        if wanted not in names:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        run: Any = (
            next((c for c in worker.containers if c.name == wanted), None) if worker else None
        )
        if previous:
            if run is None or run.previous_output is None:
                raise bad_request(
                    f'previous terminated container "{wanted}" in pod "{name}" not found'
                )
            return list(run.previous_output)
        if run is None or run.process is None:
            reason = "ContainerCreating"
            if run is not None:
                reason = (run.state.get("waiting") or {}).get("reason", reason)
            raise bad_request(f'container "{wanted}" in pod "{name}" is waiting to start: {reason}')
        return list(run.process.output)

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.listeners.remove(self._on_change)
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
