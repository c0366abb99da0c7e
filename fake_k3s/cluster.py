"""The fake cluster put together: store, API server, scheduler, controllers, kubelet, proxy.

``running_cluster`` is the programmatic entry point (tests); ``python -m fake_k3s``
the standalone one (see ``__main__``). Each :class:`FakeCluster` owns all of its state, so
several can run in one process, and stopping it stops every sim it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from fake_k3s import control as control_module
from fake_k3s.api import Backend, make_app
from fake_k3s.control import Settings
from fake_k3s.controller import Controllers
from fake_k3s.events import EventRecorder
from fake_k3s.kubelet import Kubelet
from fake_k3s.network import PodAddresses, ServiceAddresses, ServiceProxy
from fake_k3s.registry import Registry
from fake_k3s.resources import EVENTS, NODES, PODS
from fake_k3s.scheduler import Scheduler
from fake_k3s.selectors import FieldSelector, LabelSelector
from fake_k3s.store import JSON, Change, Store, now

log = logging.getLogger("fake_k3s")

NODE_NAME = "fake-k3s-node"
CONTEXT = "fake-k3s"


def kubeconfig_document(server: str, namespace: str = "default") -> JSON:
    """A kubeconfig with one context (current) pointing at ``server`` without credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def _node(gpus: int) -> JSON:
    capacity = {"cpu": "16", "memory": "131072Mi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    stamp = now()
    return {
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "true",
                "nvidia.com/gpu.present": "true",
            },
        },
        "spec": {"podCIDR": "10.42.0.0/24"},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "fake",
                "containerRuntimeVersion": "containerd://1.7.23-k3s2",
                "kernelVersion": "6.1.0",
                "kubeProxyVersion": "v1.31.4+k3s1",
                "kubeletVersion": "v1.31.4+k3s1",
                "machineID": "fake",
                "operatingSystem": "linux",
                "osImage": "autosred fake k3s",
                "systemUUID": "fake",
            },
        },
    }


class FakeCluster:
    """A one-node k3s stand-in served over plain HTTP on ``host:port`` (0: a free port)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        history_limit: int = 1000,
    ) -> None:
        self._settings = settings or Settings()
        self.host = host
        self._requested_port = port
        self.port = 0
        self.kubeconfig: Path | None = None
        self.store = Store(history_limit=history_limit)
        self._profiles: dict[str, Settings] = {}
        self.store.listeners.append(self._remember_profile)
        self.registry = Registry(store=self.store, service_addresses=ServiceAddresses())
        self.events = EventRecorder(store=self.store, node_name=NODE_NAME)
        self.addresses = PodAddresses()
        self.scheduler = Scheduler(
            store=self.store, events=self.events, profile=self.profile,
            settings=lambda: self._settings, node_name=NODE_NAME,
        )  # fmt: skip
        self.kubelet = Kubelet(
            store=self.store, events=self.events, addresses=self.addresses,
            profile=self.profile, node_name=NODE_NAME,
        )  # fmt: skip
        self.controllers = Controllers(registry=self.registry, events=self.events)
        self.proxy = ServiceProxy(store=self.store)
        self._runner: web.AppRunner | None = None

    # -- settings -----------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def _remember_profile(self, change: Change) -> None:
        # The settings a pod lives by are those in force when it was created.
        if change.resource == PODS:
            uid = change.object["metadata"]["uid"]
            if change.type == "ADDED":
                self._profiles[uid] = self._settings
            elif change.type == "DELETED":
                self._profiles.pop(uid, None)

    def profile(self, uid: str) -> Settings:
        return self._profiles.get(uid, self._settings)

    def control(self, changes: dict[str, Any] | None = None, /, **more: Any) -> dict[str, Any]:
        """Change settings (the ``POST /__control`` keys); returns them all. ValueError on a
        bad key or value. ``compact=True`` drops the watch history (older watches get 410)."""
        changes = {**(changes or {}), **more}
        new = control_module.updated(self._settings, changes)
        was_down = self._settings.api_down
        self._settings = new
        if changes.get("compact"):
            self.store.compact()
        if new.api_down and not was_down:
            log.warning("API server down (%s): cutting open watches", new.api_down)
            self.store.cut_watches()
        elif was_down and not new.api_down:
            log.warning("API server restored")
        node = self.store.find(NODES, None, NODE_NAME)
        if node is not None and node["status"]["capacity"]["nvidia.com/gpu"] != str(new.gpus):
            node["status"]["capacity"]["nvidia.com/gpu"] = str(new.gpus)
            node["status"]["allocatable"]["nvidia.com/gpu"] = str(new.gpus)
            self.store.replace(NODES, node)
        self.scheduler.wake()
        return new.public()

    # -- looking in (tests) -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def pods(self, namespace: str | None = None, label_selector: str | None = None) -> list[JSON]:
        return self.store.list(PODS, namespace, LabelSelector.parse(label_selector))

    def events_for(self, name: str, namespace: str | None = None) -> list[JSON]:
        """Events about the object called ``name``, oldest first."""
        found = self.store.list(
            EVENTS, namespace, fields=FieldSelector.parse(f"involvedObject.name={name}")
        )
        return sorted(found, key=lambda e: int(e["metadata"]["resourceVersion"]))

    def sims(self) -> dict[str, int]:
        """Pod name -> pid of the sim running in it."""
        return self.kubelet.sims()

    def write_kubeconfig(self, path: Path | str, namespace: str = "default") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(kubeconfig_document(self.url, namespace), sort_keys=False))
        self.kubeconfig = path
        return path

    # -- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.registry.ensure_namespace(namespace)
        self.store.insert(NODES, _node(self._settings.gpus))
        self.scheduler.start()
        self.kubelet.start()
        self.controllers.start()
        self.proxy.start()
        backend = Backend(
            store=self.store,
            registry=self.registry,
            settings=lambda: self._settings,
            control=self.control,
            logs=self.kubelet.logs,
            server_address=lambda: f"{self.host}:{self.port}",
        )
        # Watches end when the cluster stops (cut_watches), so a short shutdown_timeout only
        # bounds a client that keeps a plain request open.
        self._runner = web.AppRunner(
            make_app(backend=backend), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("fake k3s API serving %s (pods on %s)", self.url, self.addresses.network)

    async def aclose(self) -> None:
        self.store.cut_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.controllers.aclose()
        await self.scheduler.aclose()
        await self.proxy.aclose()
        await self.kubelet.aclose()


@contextlib.asynccontextmanager
async def running_cluster(
    directory: Path | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    namespace: str = "default",
    history_limit: int = 1000,
    **settings: Any,
) -> AsyncIterator[FakeCluster]:
    """Start a fake cluster; ``settings`` are :class:`Settings` fields (the control keys).
    With ``directory``, a kubeconfig is written there as ``kubeconfig.yaml``."""
    base = control_module.updated(Settings(), settings)
    cluster = FakeCluster(settings=base, host=host, port=port, history_limit=history_limit)
    try:
        await cluster.start()
        if directory is not None:
            cluster.write_kubeconfig(Path(directory) / "kubeconfig.yaml", namespace)
        yield cluster
    finally:
        await asyncio.shield(cluster.aclose())


__all__ = ["FakeCluster", "Settings", "kubeconfig_document", "running_cluster"]
