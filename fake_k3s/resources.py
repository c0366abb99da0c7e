"""The resource types the fake serves, and the discovery documents built from them.

One table drives routing, discovery and error wording, so a resource added here is listed by
``/api/v1`` or ``/apis/apps/v1`` exactly as it is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]

VERSION_INFO: JSON = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.4+k3s1",
    "gitCommit": "fake",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}
"""``GET /version``: a k3s release, so a client that checks the server version is satisfied."""

_ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    """API group; "" is the core group (served under /api)."""
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_generation: bool = False
    """Whether spec changes bump ``metadata.generation`` (workload controllers observe it)."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How error messages name the resource: ``deployments.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


DEPLOYMENTS = ResourceType(
    "apps", "v1", "deployments", "Deployment", short_names=("deploy",),
    subresources=("scale", "status"), has_generation=True,
)  # fmt: skip
REPLICASETS = ResourceType(
    "apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), subresources=("status",),
    has_generation=True,
)  # fmt: skip
PODS = ResourceType("", "v1", "pods", "Pod", short_names=("po",), subresources=("log", "status"))
SERVICES = ResourceType(
    "", "v1", "services", "Service", short_names=("svc",), subresources=("status",)
)
EVENTS = ResourceType("", "v1", "events", "Event", short_names=("ev",))
NAMESPACES = ResourceType(
    "", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)
)
NODES = ResourceType("", "v1", "nodes", "Node", namespaced=False, short_names=("no",))

ALL: tuple[ResourceType, ...] = (
    DEPLOYMENTS, REPLICASETS, PODS, SERVICES, EVENTS, NAMESPACES, NODES,
)  # fmt: skip

# The scale subresource speaks another group's kind: autoscaling/v1 Scale.
_SUBRESOURCE_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "log": ("", "v1", "Pod")}
_SUBRESOURCE_VERBS = {"scale": ("get", "patch", "update"), "status": ("get", "patch", "update")}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    for resource in ALL:
        if (resource.group, resource.version, resource.plural) == (group, version, plural):
            return resource
    return None


def group_versions() -> list[tuple[str, str]]:
    """The (group, version) pairs served, core first."""
    seen: list[tuple[str, str]] = []
    for resource in ALL:
        if (resource.group, resource.version) not in seen:
            seen.append((resource.group, resource.version))
    return seen


def resource_list(group: str, version: str) -> JSON | None:
    """``APIResourceList`` for ``/api/v1`` or ``/apis/GROUP/VERSION``."""
    if (group, version) not in group_versions():
        return None
    resources: list[JSON] = []
    for resource in ALL:
        if (resource.group, resource.version) != (group, version):
            continue
        entry: JSON = {
            "name": resource.plural,
            "singularName": resource.kind.lower(),
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": list(_ALL_VERBS),
        }
        if resource.short_names:
            entry["shortNames"] = list(resource.short_names)
        resources.append(entry)
        for sub in resource.subresources:
            sub_entry: JSON = {
                "name": f"{resource.plural}/{sub}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": resource.kind,
                "verbs": list(_SUBRESOURCE_VERBS.get(sub, ("get",))),
            }
            if sub in _SUBRESOURCE_KINDS:
                sub_group, sub_version, sub_kind = _SUBRESOURCE_KINDS[sub]
                sub_entry["kind"] = sub_kind
                if sub_group:
                    sub_entry["group"] = sub_group
                    sub_entry["version"] = sub_version
            resources.append(sub_entry)
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def api_versions(server_address: str) -> JSON:
    """``GET /api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str) -> JSON | None:
    versions = [v for g, v in group_versions() if g == group]
    if not group or not versions:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list() -> JSON:
    """``GET /apis``: the named groups served."""
    groups = [api_group(g) for g in dict.fromkeys(g for g, _ in group_versions() if g)]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [g for g in groups if g]}
