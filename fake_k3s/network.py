"""Pod and Service addresses on the loopback network, and a small kube-proxy.

Linux routes all of 127.0.0.0/8 to ``lo`` with no set-up, so each pod gets its own address
(127.A.x.y) and its server binds podIP:containerPort: the pod spec's containerPort stays true
(every pod can listen on 8000) and a client reaches ``status.podIP:port`` as it would reach a
pod from a k3s node. Each cluster draws its own random 127.A.0.0/16, so two clusters (parallel
test workers) do not hand out the same address; an address whose ports are taken is skipped.

Services get ClusterIPs from 127.43.0.0/16 (k3s uses 10.43.0.0/16) unless the client pins
one. For a Service whose ClusterIP is a loopback address, :class:`ServiceProxy` listens on
clusterIP:port and forwards each connection to a Ready pod matching the Service's selector
(at its targetPort), as kube-proxy does; a pinned ClusterIP outside 127.0.0.0/8 is stored and
reported but not routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import Iterable
from typing import Any

from fake_k3s.resources import PODS, SERVICES
from fake_k3s.selectors import LabelSelector
from fake_k3s.store import JSON, Change, Store

log = logging.getLogger("fake_k3s.network")

SERVICE_NETWORK = ipaddress.IPv4Network("127.43.0.0/16")
_PER_OCTET = 254


def _port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((ip, port))
        except OSError:
            return False
    return True


class PodAddresses:
    def __init__(self) -> None:
        rng = random.SystemRandom()
        self._octet = rng.choice([n for n in range(64, 240) if n != SERVICE_NETWORK[0].packed[1]])
        self._next = rng.randrange(0, _PER_OCTET * 128)

    @property
    def network(self) -> str:
        return f"127.{self._octet}.0.0/16"

    def allocate(self, ports: Iterable[int]) -> str:
        """A fresh address on which every one of ``ports`` is free; never one handed out
        before (a new pod must not meet the old pod's connections in TIME_WAIT)."""
        wanted = list(ports)
        for _ in range(_PER_OCTET * 256):
            self._next = (self._next + 1) % (_PER_OCTET * 256)
            third, fourth = divmod(self._next, _PER_OCTET)
            ip = f"127.{self._octet}.{third}.{fourth + 1}"
            if all(_port_free(ip, port) for port in wanted):
                return ip
        raise RuntimeError(f"no free pod address left in {self.network}")


class ServiceAddresses:
    def __init__(self) -> None:
        self._rng = random.SystemRandom()

    def allocate(self, taken: set[str]) -> str:
        hosts = SERVICE_NETWORK.num_addresses - 2
        for _ in range(1000):
            ip = str(SERVICE_NETWORK[1 + self._rng.randrange(hosts)])
            if ip not in taken and ip != str(SERVICE_NETWORK[1]):
                return ip
        raise RuntimeError(f"no free ClusterIP left in {SERVICE_NETWORK}")


def ready_pod_endpoint(store: Store, service: JSON, port: JSON) -> tuple[str, int] | None:
    """(podIP, targetPort) of a Ready, not terminating pod behind ``service``'s ``port``."""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        return None
    namespace = service["metadata"].get("namespace")
    pods = store.list(PODS, namespace, LabelSelector.from_object({"matchLabels": selector}))
    for pod in pods:
        status = pod.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if not ready or not status.get("podIP") or pod["metadata"].get("deletionTimestamp"):
            continue
        target: Any = port.get("targetPort", port.get("port"))
        if isinstance(target, str):
            named = [
                p.get("containerPort")
                for c in (pod.get("spec") or {}).get("containers") or []
                for p in c.get("ports") or []
                if p.get("name") == target
            ]
            if not named:
                continue
            target = named[0]
        return str(status["podIP"]), int(target)
    return None


class ServiceProxy:
    """Forward clusterIP:port to the Service's pods (loopback ClusterIPs only)."""

    def __init__(self, *, store: Store) -> None:
        self._store = store
        self._servers: dict[tuple[str, int], tuple[tuple[str, str], asyncio.Server]] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._store.listeners.append(self._on_change)
        self._task = asyncio.create_task(self._run(), name="fake-k3s.kube-proxy")
        self._wake.set()

    def _on_change(self, change: Change) -> None:
        if change.resource == SERVICES:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._sync()

    def _desired(self) -> dict[tuple[str, int], tuple[str, str]]:
        desired: dict[tuple[str, int], tuple[str, str]] = {}
        for service in self._store.list(SERVICES):
            cluster_ip = (service.get("spec") or {}).get("clusterIP") or ""
            try:
                if not ipaddress.IPv4Address(cluster_ip).is_loopback:
                    continue
            except ValueError:
                continue
            owner = (service["metadata"].get("namespace", ""), service["metadata"]["name"])
            for port in service["spec"].get("ports") or []:
                desired[(cluster_ip, int(port["port"]))] = owner
        return desired

    async def _sync(self) -> None:
        desired = self._desired()
        for address, (owner, server) in list(self._servers.items()):
            if desired.get(address) != owner:
                server.close()
                del self._servers[address]
        for address, owner in desired.items():
            if address in self._servers:
                continue
            ip, port = address

            async def handle(
                reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter,
                owner: tuple[str, str] = owner,
                port: int = port,
            ) -> None:
                await self._forward(reader, writer, owner, port)

            try:
                server = await asyncio.start_server(handle, ip, port)
            except OSError as exc:
                log.warning(
                    "kube-proxy cannot listen on %s:%s for service %s/%s: %s", ip, port, *owner, exc
                )
                continue
            self._servers[address] = (owner, server)

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        owner: tuple[str, str],
        port_number: int,
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            service = self._store.find(SERVICES, owner[0], owner[1])
            ports = (service or {}).get("spec", {}).get("ports") or []
            port = next((p for p in ports if p.get("port") == port_number), None)
            endpoint = ready_pod_endpoint(self._store, service, port) if service and port else None
            if endpoint is None:
                return  # no endpoints: the connection is refused (closed at once)
            upstream_reader, upstream_writer = await asyncio.open_connection(*endpoint)
            await _splice(reader, writer, upstream_reader, upstream_writer)
        except OSError:
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.close()
            self._connections.discard(task)

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self._store.listeners.remove(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, server in self._servers.values():
            server.close()
        self._servers.clear()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2)


async def _splice(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    """Copy both ways until either side closes (HTTP needs no half-close here)."""

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    tasks = [
        asyncio.create_task(pump(a_reader, b_writer)),
        asyncio.create_task(pump(b_reader, a_writer)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
