"""A small async facade over the official ``kubernetes`` client: the only code that calls it.

The official client is synchronous (urllib3). Unary calls run on a small thread pool owned by
the facade, so the event loop never blocks on the API server; a watch holds a thread of its own
for as long as it streams and hands each event to the loop through an asyncio queue. Closing a
watch shuts its socket down, which ends the blocked read at once instead of after its timeout.
(The asyncio port, kubernetes_asyncio, lags the official client's releases and is another
dependency; the facade keeps the choice in one place.)

Objects go in and come out as plain JSON dicts, exactly as the API server speaks them
(camelCase keys): the renderer produces them, drift compares them, and no generated model class
or ``kubernetes`` exception is seen outside this package.

Every call is retried with exponential backoff while the API server cannot be reached or
answers 429 / 5xx, honouring ``Retry-After``, for at most ``RetryPolicy.budget`` seconds. The
calls made are all safe to repeat: reads, merge patches of absolute values, creates (a repeated
create answers 409, which callers treat as "exists").
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import random
import socket
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import urllib3

from autosred.kube.errors import (
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeUnavailable,
)

JSON = dict[str, Any]
_T = TypeVar("_T")

MERGE_PATCH = "application/merge-patch+json"
WATCH_SECONDS = 240
"""Server-side length of one watch request; the stream then reconnects from where it was."""

Kind = Literal["pods", "events"]

REQUIRED_ACCESS: frozenset[tuple[str, str, str]] = frozenset(
    {
        *(("", kind, verb) for kind in ("pods", "events") for verb in ("get", "list", "watch")),
        *(("", "services", verb) for verb in ("get", "create", "patch")),
        *(("apps", "deployments", verb) for verb in ("get", "create", "patch")),
        ("apps", "deployments/scale", "patch"),
    }
)
"""(API group, resource, verb) for every call this facade makes: helm/autosre's Role grants
exactly these (a test holds them equal)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for calls that failed because the API server is unreachable or overloaded."""

    budget: float = 10.0
    """Seconds of retrying before the call fails with KubeUnavailable."""
    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0
    max_retry_after: float = 30.0
    """A longer Retry-After is cut to this (and still bounded by the budget)."""

    def delays(self) -> Iterator[float]:
        """Successive backoff delays (with jitter), growing to ``maximum``."""
        return _delays(self)


def _delays(policy: RetryPolicy) -> Iterator[float]:
    delay = policy.initial
    while True:
        # Full jitter keeps two daemons (or two calls) from retrying in lockstep.
        yield random.uniform(delay / 2, delay)
        delay = min(policy.maximum, delay * policy.factor)


@dataclass(frozen=True)
class WatchEvent:
    """One change of a watched collection.

    ``type``: ADDED, MODIFIED, DELETED as the API server sends them; RESET (forget what you
    know: a list follows, as ADDED events) and SYNCED (the list is complete; what follows are
    live changes). BOOKMARKs are swallowed.
    """

    type: str
    object: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    items: list[JSON]
    resource_version: str | None


class KubeClient:
    """The Kubernetes API for one namespace, as plain dicts, off the event loop."""

    def __init__(
        self,
        *,
        api_client: Any,
        namespace: str,
        log: logging.Logger,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        workers: int = 4,
    ) -> None:
        from kubernetes import client as k8s

        self._api_client = api_client
        self._core = k8s.CoreV1Api(api_client)
        self._apps = k8s.AppsV1Api(api_client)
        self.namespace = namespace
        self.server: str = str(api_client.configuration.host)
        self._log = log
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
        self._watches: set[_WatchThread] = set()
        self._closed = False

    @classmethod
    def from_config(
        cls,
        *,
        kubeconfig: Path | None,
        namespace: str,
        log: logging.Logger,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        environ: dict[str, str] | None = None,
    ) -> KubeClient:
        """Credentials from ``kubeconfig`` when that file exists, else the pod's service account
        (in-cluster); raises KubeConfigError naming what was tried."""
        configuration = load_configuration(kubeconfig, environ=environ)
        from kubernetes import client as k8s

        api_client = k8s.ApiClient(configuration)
        return cls(
            api_client=api_client, namespace=namespace, log=log, timeout=timeout, retry=retry
        )

    # -- deployments ---------------------------------------------------------------------------

    async def read_deployment(self, name: str) -> JSON:
        return await self._call(
            f"deployment {name}",
            lambda **kw: self._apps.read_namespaced_deployment(name, self.namespace, **kw),
        )

    async def create_deployment(self, body: JSON) -> JSON:
        name = body["metadata"]["name"]
        return await self._call(
            f"deployment {name}",
            lambda **kw: self._apps.create_namespaced_deployment(
                self.namespace, _model(body), **kw
            ),
        )

    async def patch_deployment(self, name: str, patch: JSON) -> JSON:
        """A JSON merge patch (RFC 7386): maps merge, lists are replaced whole."""
        return await self._call(
            f"deployment {name}",
            lambda **kw: self._apps.patch_namespaced_deployment(
                name, self.namespace, patch, _content_type=MERGE_PATCH, **kw
            ),
        )

    async def scale_deployment(self, name: str, replicas: int) -> JSON:
        """Through the scale subresource (the only write the Role allows on replicas)."""
        body = {"spec": {"replicas": replicas}}
        return await self._call(
            f"deployment {name} scale",
            lambda **kw: self._apps.patch_namespaced_deployment_scale(
                name, self.namespace, body, _content_type=MERGE_PATCH, **kw
            ),
        )

    # -- services ------------------------------------------------------------------------------

    async def read_service(self, name: str) -> JSON:
        return await self._call(
            f"service {name}",
            lambda **kw: self._core.read_namespaced_service(name, self.namespace, **kw),
        )

    async def create_service(self, body: JSON) -> JSON:
        name = body["metadata"]["name"]
        return await self._call(
            f"service {name}",
            lambda **kw: self._core.create_namespaced_service(self.namespace, _model(body), **kw),
        )

    async def patch_service(self, name: str, patch: JSON) -> JSON:
        return await self._call(
            f"service {name}",
            lambda **kw: self._core.patch_namespaced_service(
                name, self.namespace, patch, _content_type=MERGE_PATCH, **kw
            ),
        )

    # -- pods and events -----------------------------------------------------------------------

    async def read_pod(self, name: str) -> JSON:
        return await self._call(
            f"pod {name}", lambda **kw: self._core.read_namespaced_pod(name, self.namespace, **kw)
        )

    async def list(
        self, kind: Kind, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> Listing:
        method = self._list_method(kind)
        params = _selectors(label_selector, field_selector)
        body = await self._call(f"{kind} list", lambda **kw: method(self.namespace, **params, **kw))
        metadata = body.get("metadata") or {}
        return Listing(list(body.get("items") or []), metadata.get("resourceVersion"))

    async def stream(
        self, kind: Kind, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        """List, then watch for as long as the caller iterates (see WatchEvent for the types).

        Reconnects when a watch ends; lists again (RESET) when the resourceVersion expired.
        Raises KubeUnavailable when the API server stays unreachable beyond the retry budget,
        and other KubeErrors (forbidden, invalid selector) at once. Use it with
        ``contextlib.aclosing`` so that leaving the loop ends the watch thread promptly.
        """
        method = self._list_method(kind)
        params = _selectors(label_selector, field_selector)
        resource_version: str | None = None
        first = True
        while True:
            if resource_version is None:
                listing = await self.list(
                    kind, label_selector=label_selector, field_selector=field_selector
                )
                if not first:
                    yield WatchEvent("RESET")
                first = False
                for item in listing.items:
                    yield WatchEvent("ADDED", item)
                yield WatchEvent("SYNCED")
                resource_version = listing.resource_version
            watch = self._open_watch(method, params, resource_version, what=f"{kind} watch")
            try:
                async for event in self._watch_events(watch):
                    metadata = event.object.get("metadata") or {}
                    if metadata.get("resourceVersion"):
                        resource_version = metadata["resourceVersion"]
                    if event.type != "BOOKMARK":
                        yield event
            except KubeGone:
                self._log.info("kube.watch_expired", extra={"fields": {"kind": kind}})
                resource_version = None
            finally:
                watch.close()

    async def _watch_events(self, watch: _WatchThread) -> AsyncIterator[WatchEvent]:
        """One watch request's events; retries the connection within the budget."""
        delays = self._retry.delays()
        deadline = time.monotonic() + self._retry.budget
        while True:
            item = await watch.queue.get()
            if isinstance(item, WatchEvent):
                deadline = time.monotonic() + self._retry.budget
                if item.type == "ERROR":
                    raise _status_error(item.object, watch.what)
                yield item
                continue
            if item is None:
                return  # the server ended this watch (timeoutSeconds): reconnect
            error = _translate(item, watch.what, self.server)
            if not isinstance(error, KubeUnavailable) or time.monotonic() >= deadline:
                raise error from item
            delay = next(delays)
            self._log.info(
                "kube.watch_retry",
                extra={
                    "fields": {"what": watch.what, "delay": round(delay, 2), "error": str(error)}
                },
            )
            await asyncio.sleep(delay)
            watch.restart()

    def _open_watch(
        self,
        method: Callable[..., Any],
        params: dict[str, str],
        resource_version: str | None,
        *,
        what: str,
    ) -> _WatchThread:
        def request() -> Any:
            kwargs: dict[str, Any] = {
                **params,
                "watch": True,
                "allow_watch_bookmarks": True,
                "timeout_seconds": WATCH_SECONDS,
                "_preload_content": False,
                "_request_timeout": (self._timeout, WATCH_SECONDS + 30),
            }
            if resource_version:
                kwargs["resource_version"] = resource_version
            return method(self.namespace, **kwargs)

        watch = _WatchThread(request, asyncio.get_running_loop(), what=what, owner=self._watches)
        watch.start()
        return watch

    def _list_method(self, kind: Kind) -> Callable[..., Any]:
        methods: dict[str, Callable[..., Any]] = {
            "pods": self._core.list_namespaced_pod,
            "events": self._core.list_namespaced_event,
        }
        return methods[kind]

    # -- plumbing ------------------------------------------------------------------------------

    async def _call(self, what: str, call: Callable[..., Any]) -> JSON:
        """Run ``call`` on the pool and decode its JSON body, retrying what may be retried."""
        if self._closed:
            raise KubeUnavailable(f"{what}: the Kubernetes client is closed")
        loop = asyncio.get_running_loop()
        delays = self._retry.delays()
        deadline = time.monotonic() + self._retry.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                return await loop.run_in_executor(self._executor, self._blocking, call)
            except KubeError:
                raise
            except Exception as exc:
                error = _translate(exc, what, self.server)
                if not isinstance(error, KubeUnavailable):
                    raise error from exc
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise error from exc
                delay = _retry_after(exc, self._retry.max_retry_after)
                if delay is None:
                    delay = next(delays)
                delay = min(delay, remaining)
                self._log.info(
                    "kube.retry",
                    extra={
                        "fields": {
                            "what": what,
                            "attempt": attempt,
                            "delay": round(delay, 2),
                            "error": error.message,
                        }
                    },
                )
                await asyncio.sleep(delay)

    def _blocking(self, call: Callable[..., Any]) -> JSON:
        response = call(_preload_content=False, _request_timeout=(self._timeout, self._timeout))
        try:
            raw = response.data
        except BaseException:
            response.close()  # half read: the connection must not be reused
            raise
        finally:
            response.release_conn()
        body = json.loads(raw) if raw else {}
        if not isinstance(body, dict):
            raise KubeError(f"unexpected answer from the Kubernetes API: {str(body)[:200]}")
        return body

    async def aclose(self) -> None:
        """End every watch and the thread pool; calls after this fail."""
        self._closed = True
        for watch in list(self._watches):
            watch.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self._api_client.close)


class _WatchThread:
    """One streaming watch request on a thread of its own, feeding an asyncio queue.

    Items: WatchEvent per line; an Exception when the request failed; None when the stream
    ended. ``restart`` sends the same request again (after a connection failure).
    """

    def __init__(
        self,
        request: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        *,
        what: str,
        owner: set[_WatchThread],
    ) -> None:
        self.queue: asyncio.Queue[WatchEvent | BaseException | None] = asyncio.Queue()
        self.what = what
        self._request = request
        self._loop = loop
        self._owner = owner
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None

    def start(self) -> None:
        self._owner.add(self)
        thread = threading.Thread(target=self._run, name=f"kube-watch:{self.what}", daemon=True)
        thread.start()

    def restart(self) -> None:
        if not self._closed.is_set():
            self.start()

    def close(self) -> None:
        self._closed.set()
        self._owner.discard(self)
        with self._lock:
            response = self._response
        if response is not None:
            _shutdown_socket(response)

    def _put(self, item: WatchEvent | BaseException | None) -> None:
        if self._closed.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens any more
            self._loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _run(self) -> None:
        response = None
        try:
            response = self._request()
            with self._lock:
                self._response = response
            if self._closed.is_set():
                return
            for line in _lines(response):
                if self._closed.is_set():
                    return
                event = json.loads(line)
                self._put(WatchEvent(str(event.get("type", "")), event.get("object") or {}))
            self._put(None)
        except BaseException as exc:
            self._put(exc)
        finally:
            if response is not None:
                # Closed, never handed back to the pool with the rest of a stream unread: the
                # next request on that connection would read a chunk size as its status line.
                with contextlib.suppress(Exception):
                    response.close()
                with contextlib.suppress(Exception):
                    response.release_conn()
                with self._lock:
                    self._response = None


def _lines(response: Any) -> Any:
    buffer = b""
    for chunk in response.stream(16384, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _shutdown_socket(response: Any) -> None:
    """End a blocked read on another thread: shutting the socket down wakes it with EOF."""
    connection = getattr(response, "connection", None) or getattr(response, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sock.shutdown(socket.SHUT_RDWR)


def load_configuration(kubeconfig: Path | None, *, environ: dict[str, str] | None = None) -> Any:
    """A ``kubernetes.client.Configuration`` (nothing global is touched)."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    env = os.environ if environ is None else environ
    configuration = k8s.Configuration()
    tried: list[str] = []
    if kubeconfig is not None:
        if kubeconfig.is_file():
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(kubeconfig),
                    client_configuration=configuration,
                    persist_config=False,
                )
            except Exception as exc:
                raise KubeConfigError(f"engine.kubeconfig: {kubeconfig}: {exc}") from exc
            return _tuned(configuration)
        tried.append(f"no kubeconfig at {kubeconfig}")
    if env.get("KUBERNETES_SERVICE_HOST"):
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except Exception as exc:
            raise KubeConfigError(f"in-cluster Kubernetes credentials: {exc}") from exc
        return _tuned(configuration)
    tried.append("not running in a pod (KUBERNETES_SERVICE_HOST is unset)")
    raise KubeConfigError(
        "no Kubernetes credentials: " + "; ".join(tried) + " (set engine.kubeconfig; on a k3s "
        "node the file is /etc/rancher/k3s/k3s.yaml and must be readable by the daemon's user)"
    )


def _tuned(configuration: Any) -> Any:
    # Retries are ours (with backoff and Retry-After): urllib3's own would retry a refused
    # connection three times at once and hide how long the API server has been gone.
    configuration.retries = False
    return configuration


def _model(body: JSON) -> Any:
    """A create's body as the typed client wants it: the client validates the dict into its
    model and serialises it back, field for field (checked by tests/kube)."""
    return body


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    params = {}
    if label_selector:
        params["label_selector"] = label_selector
    if field_selector:
        params["field_selector"] = field_selector
    return params


def _translate(exc: BaseException, what: str, server: str) -> KubeError:
    """Any failure of the official client as one of our errors."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, ApiException):
        status = exc.status
        message = _api_message(exc.body) or exc.reason or "no reason given"
        if not status:
            return KubeUnavailable(
                f"{what}: cannot reach the Kubernetes API at {server}: {message}"
            )
        return _by_status(status, f"{what}: {message}")
    if isinstance(exc, json.JSONDecodeError):
        return KubeError(f"{what}: the Kubernetes API answered something that is not JSON")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        reason = _network_reason(exc)
        return KubeUnavailable(f"{what}: cannot reach the Kubernetes API at {server}: {reason}")
    # The client refused the request itself (e.g. a body its model does not accept).
    return KubeError(f"{what}: {type(exc).__name__}: {exc}")


def _by_status(status: int, message: str) -> KubeError:
    if status == 404:
        return KubeNotFound(message, status=status)
    if status == 409:
        return KubeConflict(message, status=status)
    if status in (401, 403):
        return KubeForbidden(message, status=status)
    if status in (400, 422):
        return KubeInvalid(message, status=status)
    if status == 410:
        return KubeGone(message, status=status)
    if status == 429 or status >= 500:
        return KubeUnavailable(message, status=status)
    return KubeError(message, status=status)


def _status_error(status: JSON, what: str) -> KubeError:
    """A watch's ERROR event carries a Status object."""
    code = status.get("code")
    message = f"{what}: {status.get('message') or status.get('reason') or 'error'}"
    return _by_status(code if isinstance(code, int) else 500, message)


def _api_message(body: object) -> str | None:
    if not isinstance(body, str | bytes) or not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return text.strip()[:300] or None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return None


def _network_reason(exc: BaseException) -> str:
    """'connection refused', 'timed out' …: the innermost OS-level reason, as an operator
    would say it."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or type(current).__name__.endswith("TimeoutError"):
            return "timed out"
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
        else:
            current = current.__cause__ or current.__context__
    return str(exc) or type(exc).__name__


def _retry_after(exc: BaseException, cap: float) -> float | None:
    headers = getattr(exc, "headers", None)
    if not headers:
        return None
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, min(seconds, cap))


__all__ = [
    "JSON",
    "REQUIRED_ACCESS",
    "KubeClient",
    "Listing",
    "RetryPolicy",
    "WatchEvent",
    "load_configuration",
]
