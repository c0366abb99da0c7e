"""KubeClient: the Kubernetes API for one namespace, as plain dicts, off the event loop.

The facade over the official ``kubernetes`` client and the only code that calls its API
classes. Objects go in and come out as plain JSON dicts, exactly as the API server speaks them
(camelCase keys): the renderer produces them, drift compares them, and no generated model class
or ``kubernetes`` exception is seen outside this package. How the pieces work lives beside it:
config.py (credentials), calls.py (unary calls on a pool, with retries), watches.py (list then
watch, on threads), errors.py (the errors and the translation into them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from autosred.kube.calls import JSON, Calls, RetryPolicy
from autosred.kube.config import load_configuration
from autosred.kube.watches import Listing, Watches, WatchEvent

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
FIELD_MANAGER = "autosred"
"""The field manager of autosred's server-side applies (``autosrectl recipe apply``)."""
ENGINE_MANAGER = "autosred-engine"
"""The field manager of the engine's own writes (creates, merge patches, scaling), so that an
apply's conflict with them names the daemon rather than the client library's User-Agent."""

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
        policy = retry or RetryPolicy()
        self._calls = Calls(
            server=self.server, log=log, timeout=timeout, retry=policy, workers=workers
        )
        self._watches = Watches(server=self.server, log=log, timeout=timeout, retry=policy)

    @classmethod
    def from_config(
        cls,
        *,
        kubeconfig: Path | None,
        namespace: str,
        log: logging.Logger,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
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
        return await self._calls.run(
            f"deployment {name}",
            lambda **kw: self._apps.read_namespaced_deployment(name, self.namespace, **kw),
        )

    async def create_deployment(self, body: JSON) -> JSON:
        name = body["metadata"]["name"]
        return await self._calls.run(
            f"deployment {name}",
            lambda **kw: self._apps.create_namespaced_deployment(
                self.namespace, _model(body), field_manager=ENGINE_MANAGER, **kw
            ),
        )

    async def patch_deployment(self, name: str, patch: JSON) -> JSON:
        """A JSON merge patch (RFC 7386): maps merge, lists are replaced whole."""
        return await self._calls.run(
            f"deployment {name}",
            lambda **kw: self._apps.patch_namespaced_deployment(
                name,
                self.namespace,
                patch,
                _content_type=MERGE_PATCH,
                field_manager=ENGINE_MANAGER,
                **kw,
            ),
        )

    async def apply_deployment(self, body: JSON, *, force: bool, dry_run: bool) -> JSON:
        """Server-side apply as FIELD_MANAGER (created when absent): the live object, or with
        ``dry_run`` what it would be. A field another manager owns is a KubeConflict naming
        it, unless ``force`` takes it over."""
        name = body["metadata"]["name"]
        return await self._calls.run(
            f"deployment {name}",
            lambda **kw: self._apps.patch_namespaced_deployment(
                name, self.namespace, body, **_apply_options(force, dry_run), **kw
            ),
        )

    async def scale_deployment(self, name: str, replicas: int) -> JSON:
        """Through the scale subresource (the only write the Role allows on replicas)."""
        body = {"spec": {"replicas": replicas}}
        return await self._calls.run(
            f"deployment {name} scale",
            lambda **kw: self._apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                body,
                _content_type=MERGE_PATCH,
                field_manager=ENGINE_MANAGER,
                **kw,
            ),
        )

    # -- services ------------------------------------------------------------------------------

    async def read_service(self, name: str) -> JSON:
        return await self._calls.run(
            f"service {name}",
            lambda **kw: self._core.read_namespaced_service(name, self.namespace, **kw),
        )

    async def create_service(self, body: JSON) -> JSON:
        name = body["metadata"]["name"]
        return await self._calls.run(
            f"service {name}",
            lambda **kw: self._core.create_namespaced_service(
                self.namespace, _model(body), field_manager=ENGINE_MANAGER, **kw
            ),
        )

    async def patch_service(self, name: str, patch: JSON) -> JSON:
        return await self._calls.run(
            f"service {name}",
            lambda **kw: self._core.patch_namespaced_service(
                name,
                self.namespace,
                patch,
                _content_type=MERGE_PATCH,
                field_manager=ENGINE_MANAGER,
                **kw,
            ),
        )

    async def apply_service(self, body: JSON, *, force: bool, dry_run: bool) -> JSON:
        """As apply_deployment, for the Service."""
        name = body["metadata"]["name"]
        return await self._calls.run(
            f"service {name}",
            lambda **kw: self._core.patch_namespaced_service(
                name, self.namespace, body, **_apply_options(force, dry_run), **kw
            ),
        )

    # -- pods and events -----------------------------------------------------------------------

    async def list(
        self, kind: Kind, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> Listing:
        method = self._list_method(kind)
        params = _selectors(label_selector, field_selector)
        body = await self._calls.run(
            f"{kind} list", lambda **kw: method(self.namespace, **params, **kw)
        )
        metadata = body.get("metadata") or {}
        return Listing(list(body.get("items") or []), metadata.get("resourceVersion"))

    async def read_pod_log(self, name: str, *, tail_lines: int) -> str:
        """The last ``tail_lines`` lines the pod's container wrote (its only container)."""
        return await self._calls.run_text(
            f"pod {name} log",
            lambda **kw: self._core.read_namespaced_pod_log(
                name, self.namespace, tail_lines=tail_lines, **kw
            ),
        )

    def stream(
        self, kind: Kind, *, label_selector: str | None = None, field_selector: str | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        """List, then watch for as long as the caller iterates (see WatchEvent for the types
        and Watches.stream for reconnects and errors). Use it with ``contextlib.aclosing`` so
        that leaving the loop ends the watch thread promptly."""
        params = _selectors(label_selector, field_selector)
        return self._watches.stream(
            kind,
            listing=functools.partial(
                self.list, kind, label_selector=label_selector, field_selector=field_selector
            ),
            watch=functools.partial(self._list_method(kind), self.namespace, **params),
        )

    def _list_method(self, kind: Kind) -> Callable[..., Any]:
        methods: dict[str, Callable[..., Any]] = {
            "pods": self._core.list_namespaced_pod,
            "events": self._core.list_namespaced_event,
        }
        return methods[kind]

    async def aclose(self) -> None:
        """End every watch and the thread pool; calls after this fail."""
        self._calls.close()
        self._watches.close()
        await asyncio.to_thread(self._api_client.close)


def _model(body: JSON) -> Any:
    """A create's body as the typed client wants it: the client validates the dict into its
    model and serialises it back, field for field (checked by tests/kube)."""
    return body


def _apply_options(force: bool, dry_run: bool) -> dict[str, Any]:
    options: dict[str, Any] = {"field_manager": FIELD_MANAGER, "_content_type": APPLY_PATCH}
    if force:
        options["force"] = True
    if dry_run:
        options["dry_run"] = "All"
    return options


def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
    params = {}
    if label_selector:
        params["label_selector"] = label_selector
    if field_selector:
        params["field_selector"] = field_selector
    return params


__all__ = [
    "APPLY_PATCH",
    "ENGINE_MANAGER",
    "FIELD_MANAGER",
    "MERGE_PATCH",
    "REQUIRED_ACCESS",
    "Kind",
    "KubeClient",
]
