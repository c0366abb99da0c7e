"""API semantics on top of the store: what a verb does to an object, independent of HTTP.

Create/replace/patch run defaulting and validation; updates keep what the server owns (uid,
creationTimestamp, generation, status on the main resource); ``metadata.generation`` moves
when the spec changes; a stale ``metadata.resourceVersion`` is a 409 Conflict. Deletes follow
the real rules: a pod bound to a node is deleted gracefully (``deletionTimestamp`` set, the
kubelet stops it and removes it), one that never got a node goes at once; deleting a
Deployment or ReplicaSet takes its dependents along unless ``propagationPolicy=Orphan``.
The scale subresource reads and writes ``spec.replicas`` through an autoscaling/v1 Scale.
Writes that name a field manager record field ownership in ``metadata.managedFields``, and an
apply patch is server-side apply with its conflicts (fieldmanager.py); ``dry_run`` runs a
write through defaulting and validation and answers the result without storing it.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from typing import Any

import yaml

from fake_k3s import admission, fieldmanager
from fake_k3s.errors import (
    ApiError,
    bad_request,
    conflict,
    invalid,
    unsupported_media_type,
)
from fake_k3s.fieldmanager import Owner
from fake_k3s.network import ServiceAddresses
from fake_k3s.patches import json_patch, merge_patch, strategic_merge_patch
from fake_k3s.resources import (
    DEPLOYMENTS,
    NAMESPACES,
    PODS,
    REPLICASETS,
    SERVICES,
    ResourceType,
)
from fake_k3s.selectors import FieldSelector, LabelSelector
from fake_k3s.store import JSON, Store, now

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_SERVER_OWNED = ("uid", "creationTimestamp", "generation", "deletionTimestamp",
                 "deletionGracePeriodSeconds")  # fmt: skip
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_CHARS) for _ in range(length))


def owned_by(obj: JSON, owner_uid: str) -> bool:
    return any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or [])


def apply_patch(target: JSON, content_type: str, body: Any) -> JSON:
    """``target`` patched by a request body of ``content_type`` (parameters ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json-patch+json":
        result = json_patch(target, body)
    elif media == "application/merge-patch+json":
        result = merge_patch(target, body)
    elif media == "application/strategic-merge-patch+json":
        result = strategic_merge_patch(target, body)
    else:
        raise unsupported_media_type(content_type, list(PATCH_TYPES))
    if not isinstance(result, dict):
        raise bad_request("the patched object is not a JSON object")
    return result


def parse_patch_body(content_type: str, raw: bytes) -> Any:
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        if media == "application/apply-patch+yaml":
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the request body is not valid {media}: {exc}") from exc


class Registry:
    def __init__(self, *, store: Store, service_addresses: ServiceAddresses) -> None:
        self.store = store
        self._service_addresses = service_addresses

    # -- create -------------------------------------------------------------------------------

    def ensure_namespace(self, namespace: str) -> None:
        """Namespaces spring into existence on first use (lenient: a real server answers 404
        for objects in a namespace nobody created; here tests need not create one)."""
        if self.store.find(NAMESPACES, None, namespace) is None:
            self.store.insert(
                NAMESPACES,
                {
                    "metadata": {
                        "name": namespace,
                        "labels": {"kubernetes.io/metadata.name": namespace},
                    },
                    "spec": {"finalizers": ["kubernetes"]},
                    "status": {"phase": "Active"},
                },
            )

    def create(
        self,
        resource: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        manager: str | None = None,
        dry_run: bool = False,
        applied: JSON | None = None,
    ) -> JSON:
        """``applied``: the object comes from an apply (its managedFields already set)."""
        obj = copy.deepcopy(admission.check_type(resource, body))
        if manager is not None and applied is None:
            fieldmanager.record_update(None, obj, Owner(manager, fieldmanager.UPDATE))
        metadata = obj.setdefault("metadata", {})
        if resource.namespaced:
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            metadata["namespace"] = namespace or "default"
            self.ensure_namespace(metadata["namespace"])
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{random_suffix()}"
        for field in (*_SERVER_OWNED, "resourceVersion"):
            metadata.pop(field, None)
        if resource in (DEPLOYMENTS, REPLICASETS):
            obj.pop("status", None)  # the controller owns status from the start
        if resource == PODS:
            obj.pop("status", None)
        admission.apply_defaults(resource, obj)
        if resource == SERVICES:
            self._assign_cluster_ip(obj, None)
        admission.validate(resource, obj, None)
        if dry_run:
            return _as_stored(resource, obj)
        return self.store.insert(resource, obj)

    def _assign_cluster_ip(self, obj: JSON, old: JSON | None) -> None:
        spec = obj.setdefault("spec", {})
        if old is not None and not spec.get("clusterIP"):
            spec["clusterIP"] = (old.get("spec") or {}).get("clusterIP")
        taken = {
            (s.get("spec") or {}).get("clusterIP")
            for s in self.store.list(SERVICES)
            if old is None or s["metadata"]["uid"] != old["metadata"]["uid"]
        }
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip:
            cluster_ip = spec["clusterIP"] = self._service_addresses.allocate(
                {ip for ip in taken if ip}
            )
        elif cluster_ip != "None" and cluster_ip in taken:
            raise invalid(
                SERVICES,
                obj["metadata"].get("name", ""),
                [("spec.clusterIPs", f'Invalid value: ["{cluster_ip}"]: failed to allocate IP '
                  f"{cluster_ip}: provided IP is already allocated")],
            )  # fmt: skip
        spec["clusterIPs"] = [cluster_ip]

    # -- update -------------------------------------------------------------------------------

    def replace(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        manager: str | None = None,
        dry_run: bool = False,
    ) -> JSON:
        current = self.store.get(resource, namespace, name)
        new = admission.check_type(resource, body)
        return self._update(resource, current, new, subresource, manager=manager, dry_run=dry_run)

    def patch(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        body: Any,
        *,
        subresource: str | None = None,
        manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> JSON:
        current = self.store.find(resource, namespace, name)
        media = content_type.split(";", 1)[0].strip().lower()
        if media == "application/apply-patch+yaml":
            return self._apply(
                resource, namespace, name, current, body,
                manager=manager, force=force, dry_run=dry_run, subresource=subresource,
            )  # fmt: skip
        if current is None:
            current = self.store.get(resource, namespace, name)  # raises NotFound
        patched = apply_patch(copy.deepcopy(current), content_type, body)
        return self._update(
            resource, current, patched, subresource, manager=manager, dry_run=dry_run
        )

    def _apply(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        current: JSON | None,
        body: Any,
        *,
        manager: str | None,
        force: bool,
        dry_run: bool,
        subresource: str | None,
    ) -> JSON:
        """Server-side apply: the object made to match the configuration, created when
        absent; the fields other managers own conflict unless ``force``."""
        if not manager:
            raise bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager must be set (the query "
                "parameter is required for apply requests)"
            )
        if subresource is not None:
            raise bad_request(f"apply is not supported on the {subresource} subresource")
        config = admission.check_type(resource, body)
        config_name = (config.get("metadata") or {}).get("name")
        if config_name != name:
            raise bad_request(
                f"the name of the object ({config_name}) does not match the name on the URL "
                f"({name})"
            )
        merged = fieldmanager.apply(current, config, manager, force=force)
        if current is None:
            return self.create(resource, namespace, merged, dry_run=dry_run, applied=merged)
        return self._update(resource, current, merged, None, dry_run=dry_run)

    def _update(
        self,
        resource: ResourceType,
        current: JSON,
        new: JSON,
        subresource: str | None,
        *,
        manager: str | None = None,
        dry_run: bool = False,
    ) -> JSON:
        new = copy.deepcopy(new)
        metadata = new.setdefault("metadata", {})
        name = current["metadata"]["name"]
        if metadata.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on "
                f"the URL ({name})"
            )
        wanted_version = metadata.get("resourceVersion")
        if wanted_version and wanted_version != current["metadata"]["resourceVersion"]:
            raise conflict(resource, name)
        if subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = new.get("status", {})
            return current if dry_run else self.store.replace(resource, result)
        metadata["name"] = name
        if resource.namespaced:
            metadata["namespace"] = current["metadata"]["namespace"]
        for field in _SERVER_OWNED:
            if field in current["metadata"]:
                metadata[field] = current["metadata"][field]
            else:
                metadata.pop(field, None)
        if "status" in current:
            new["status"] = current["status"]
        if manager is not None:
            fieldmanager.record_update(
                current, new, Owner(manager, fieldmanager.UPDATE, subresource or "")
            )
        elif "managedFields" not in metadata and "managedFields" in current["metadata"]:
            # A write that names no manager (the fake's own controllers) moves no ownership.
            metadata["managedFields"] = copy.deepcopy(current["metadata"]["managedFields"])
        admission.apply_defaults(resource, new)
        if resource == SERVICES:
            self._assign_cluster_ip(new, current)
        admission.validate(resource, new, current)
        if resource.has_generation and new.get("spec") != current.get("spec"):
            metadata["generation"] = int(current["metadata"].get("generation", 1)) + 1
        if dry_run:
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return new
        return self.store.replace(resource, new)

    # -- scale --------------------------------------------------------------------------------

    def get_scale(self, namespace: str, name: str) -> JSON:
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        metadata = deployment["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                key: metadata[key]
                for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": deployment["spec"].get("replicas", 0)},
            "status": {
                "replicas": (deployment.get("status") or {}).get("replicas", 0),
                "selector": str(LabelSelector.from_object(deployment["spec"].get("selector"))),
            },
        }

    def replace_scale(
        self, namespace: str, name: str, body: Any, *, manager: str | None = None
    ) -> JSON:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a Scale object")
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        wanted_version = (body.get("metadata") or {}).get("resourceVersion")
        if wanted_version and wanted_version != deployment["metadata"]["resourceVersion"]:
            raise conflict(DEPLOYMENTS, name)
        replicas = (body.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
            )
        updated = copy.deepcopy(deployment)
        updated["spec"]["replicas"] = replicas
        updated["metadata"].pop("resourceVersion", None)
        self._update(DEPLOYMENTS, deployment, updated, "scale" if manager else None,
                     manager=manager)  # fmt: skip
        return self.get_scale(namespace, name)

    def patch_scale(
        self, namespace: str, name: str, content_type: str, body: Any, *, manager: str | None = None
    ) -> JSON:
        patched = apply_patch(self.get_scale(namespace, name), content_type, body)
        return self.replace_scale(namespace, name, patched, manager=manager)

    # -- delete -------------------------------------------------------------------------------

    def delete(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        *,
        grace_period: int | None = None,
        propagation: str | None = None,
    ) -> JSON:
        """Returns what the API server returns: the pod (now terminating, or gone), the
        deleted Service, or a Status for other kinds."""
        current = self.store.get(resource, namespace, name)
        if resource == PODS:
            return self._delete_pod(current, grace_period)
        if resource in (DEPLOYMENTS, REPLICASETS):
            self._delete_dependents(current, propagation)
        gone = self.store.remove(resource, namespace, name)
        if resource == SERVICES:
            return gone  # the Service registry answers with the deleted object, like pods
        details: JSON = {"name": name, "kind": resource.plural, "uid": gone["metadata"]["uid"]}
        if resource.group:
            details["group"] = resource.group
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _delete_pod(self, pod: JSON, grace_period: int | None) -> JSON:
        metadata = pod["metadata"]
        bound = bool((pod.get("spec") or {}).get("nodeName"))
        if not bound or grace_period == 0:
            return self.store.remove(PODS, metadata.get("namespace"), metadata["name"])
        if metadata.get("deletionTimestamp"):
            return pod
        if grace_period is None:
            grace_period = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        metadata["deletionTimestamp"] = now()
        metadata["deletionGracePeriodSeconds"] = grace_period
        return self.store.replace(PODS, pod)

    def _delete_dependents(self, owner: JSON, propagation: str | None) -> None:
        uid = owner["metadata"]["uid"]
        namespace = owner["metadata"].get("namespace")
        child_kind = REPLICASETS if owner["kind"] == "Deployment" else PODS
        for child in self.store.list(child_kind, namespace):
            if not owned_by(child, uid):
                continue
            if propagation == "Orphan":
                child["metadata"]["ownerReferences"] = [
                    ref for ref in child["metadata"]["ownerReferences"] if ref.get("uid") != uid
                ]
                self.store.replace(child_kind, child)
            else:
                self.delete(
                    child_kind, namespace, child["metadata"]["name"], propagation=propagation
                )

    def delete_collection(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        grace_period: int | None = None,
        propagation: str | None = None,
    ) -> list[JSON]:
        deleted = []
        for obj in self.store.list(resource, namespace, labels, fields):
            metadata = obj["metadata"]
            self.delete(
                resource, metadata.get("namespace"), metadata["name"],
                grace_period=grace_period, propagation=propagation,
            )  # fmt: skip
            deleted.append(obj)
        return deleted


def _as_stored(resource: ResourceType, obj: JSON) -> JSON:
    """A dry-run create's answer: the object as it would be stored (no resourceVersion)."""
    result = copy.deepcopy(obj)
    result["apiVersion"] = resource.api_version
    result["kind"] = resource.kind
    metadata = result.setdefault("metadata", {})
    metadata.setdefault("uid", str(uuid.uuid4()))
    metadata["creationTimestamp"] = now()
    metadata["generation"] = 1
    return result
