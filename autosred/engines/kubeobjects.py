"""The kubernetes engine's objects: a Deployment and a Service per recipe, made to match it.

Rendering comes from the recipe (autosred.recipes.render); here the objects are created, or
merge-patched when the recipe hash differs, scaled through the scale subresource, and read
back: the live Deployment and pod (for drift), the address the server answers at (the pod IP,
or the Service's ClusterIP with ``engine.reach: service``), and the image digest a tag resolved
to. Following a wake is kubewake.py's job.
"""

from __future__ import annotations

import logging
from typing import Any

from yarl import URL

from autosred.config import EngineSettings
from autosred.engines import podstatus
from autosred.engines.base import EngineUnavailable, WakeFailed
from autosred.kube import KubeClient, KubeConflict, KubeError, KubeNotFound
from autosred.recipes import Recipe
from autosred.recipes.drift import running_digest
from autosred.recipes.render import (
    DIGEST_ANNOTATION,
    HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    NAME_LABEL,
    NAME_VALUE,
    container_port,
    label_selector,
    object_name,
    render_deployment,
    split_image,
)

JSON = dict[str, Any]


class KubeObjects:
    """Reconciles each recipe's Deployment and Service in one namespace."""

    def __init__(
        self, *, client: KubeClient, settings: EngineSettings, log: logging.Logger
    ) -> None:
        self._client = client
        self._settings = settings
        self._log = log
        self._service_ips: dict[str, str] = {}
        """The Services' ClusterIPs as last applied (``engine.reach: service``)."""

    @property
    def namespace(self) -> str:
        return self._client.namespace

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

    def render(self, recipe: Recipe) -> JSON:
        return render_deployment(recipe, namespace=self.namespace)

    async def ensure_deployment(self, recipe: Recipe, want: JSON) -> JSON:
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

    async def ensure_service(self, recipe: Recipe, want: JSON) -> None:
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

    async def endpoint_of(self, recipe: Recipe, pod: JSON) -> URL | None:
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

    async def record_digest(self, recipe: Recipe, live: JSON, pod: JSON) -> None:
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

    async def scale(self, recipe: Recipe, replicas: int, *, what: str) -> None:
        try:
            await self._client.scale_deployment(object_name(recipe), replicas)
        except KubeError as exc:
            raise WakeFailed(f"{recipe.name}: {what}: {exc.message}") from exc
