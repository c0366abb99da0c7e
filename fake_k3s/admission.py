"""Defaulting and validation, as the API server applies them on every create and update.

Defaults matter to a client that compares what it sent with what it reads back (drift
detection): a real server fills in ``imagePullPolicy``, ``terminationGracePeriodSeconds``,
``strategy.rollingUpdate``, ``requests`` from ``limits`` and so on, also inside a Deployment's
pod template; so does this fake. Validation covers the mistakes a Deployment-managing client
can actually make, with the real field paths in the 422 causes.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from typing import Any

from fake_k3s.errors import ApiError, invalid
from fake_k3s.resources import DEPLOYMENTS, PODS, REPLICASETS, SERVICES, ResourceType
from fake_k3s.selectors import LabelSelector

JSON = dict[str, Any]

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character"
)
_LABEL_1035_HELP = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character"
)

# -- defaults -------------------------------------------------------------------------------------


def _default_probe(probe: JSON | None) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
        ("failureThreshold", 3),
    ):  # fmt: skip
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _pull_policy(image: str) -> str:
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(container: JSON) -> None:
    container.setdefault("imagePullPolicy", _pull_policy(str(container.get("image", ""))))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    resources = container.setdefault("resources", {})
    limits = resources.get("limits") or {}
    if limits:
        # The API server copies limits into requests that are not given (so nvidia.com/gpu in
        # limits alone is also requested, which is what the scheduler counts).
        requests = resources.setdefault("requests", {})
        for name, quantity in limits.items():
            requests.setdefault(name, quantity)
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe))


def default_pod_spec(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _default_container(container)


def _qos_class(spec: JSON) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                return "Burstable"
    return "Guaranteed"


def _default_workload(obj: JSON, *, deployment: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if deployment:
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    default_pod_spec(template.setdefault("spec", {}))


def default_service(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def apply_defaults(resource: ResourceType, obj: JSON) -> None:
    if resource == DEPLOYMENTS:
        _default_workload(obj, deployment=True)
        obj.setdefault("status", {})
    elif resource == REPLICASETS:
        _default_workload(obj, deployment=False)
        obj.setdefault("status", {"replicas": 0})
    elif resource == PODS:
        spec = obj.setdefault("spec", {})
        default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("priority", 0)
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", _qos_class(spec))
    elif resource == SERVICES:
        default_service(obj)


# -- validation -----------------------------------------------------------------------------------


def _check_name(resource: ResourceType, name: Any, causes: list[tuple[str, str]]) -> None:
    if not isinstance(name, str) or not name:
        causes.append(("metadata.name", "Required value: name or generateName is required"))
        return
    dns1035 = resource == SERVICES
    pattern, help_text = (
        (_LABEL_1035, _LABEL_1035_HELP) if dns1035 else (_SUBDOMAIN, _SUBDOMAIN_HELP)
    )
    limit = 63 if dns1035 else 253
    if not pattern.match(name) or len(name) > limit:
        causes.append(("metadata.name", f'Invalid value: "{name}": {help_text}'))


def _check_pod_spec(spec: Any, path: str, causes: list[tuple[str, str]]) -> None:
    if not isinstance(spec, dict):
        causes.append((path, "Required value"))
        return
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append((f"{path}.containers", "Required value"))
        return
    seen: set[str] = set()
    for index, container in enumerate(containers):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            causes.append((where, "Invalid value: not an object"))
            continue
        name = container.get("name")
        if not name:
            causes.append((f"{where}.name", "Required value"))
        elif name in seen:
            causes.append((f"{where}.name", f'Duplicate value: "{name}"'))
        seen.add(str(name))
        if not container.get("image"):
            causes.append((f"{where}.image", "Required value"))
        for p_index, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 0 < number < 65536:
                causes.append(
                    (f"{where}.ports[{p_index}].containerPort",
                     f"Invalid value: {number!r}: must be between 1 and 65535, inclusive")
                )  # fmt: skip


def _check_workload(obj: JSON, old: JSON | None, causes: list[tuple[str, str]]) -> None:
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(
            ("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")
        )
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("spec.selector", "Required value"))
    elif not LabelSelector.from_object(selector).matches(labels):
        causes.append(
            ("spec.template.metadata.labels",
             f"Invalid value: {labels!r}: `selector` does not match template `labels`")
        )  # fmt: skip
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        causes.append(("spec.selector", f"Invalid value: {selector!r}: field is immutable"))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate") is not None:
        causes.append(
            ("spec.strategy.rollingUpdate",
             "Forbidden: may not be specified when strategy `type` is 'Recreate'")
        )  # fmt: skip
    _check_pod_spec(template.get("spec"), "spec.template.spec", causes)


def _check_service(obj: JSON, old: JSON | None, causes: list[tuple[str, str]]) -> None:
    spec = obj.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "", "None"):
        try:
            ipaddress.IPv4Address(str(cluster_ip))
        except ValueError:
            causes.append(
                ("spec.clusterIPs[0]", f'Invalid value: "{cluster_ip}": must be a valid IP address')
            )
    if old is not None:
        old_ip = (old.get("spec") or {}).get("clusterIP")
        if cluster_ip != old_ip:
            causes.append(
                ("spec.clusterIPs[0]", f'Invalid value: "{cluster_ip}": field is immutable')
            )
    ports = spec.get("ports")
    if cluster_ip != "None" and (not isinstance(ports, list) or not ports):
        causes.append(("spec.ports", "Required value"))
    for index, port in enumerate(ports or []):
        number = port.get("port") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 0 < number < 65536:
            causes.append(
                (f"spec.ports[{index}].port",
                 f"Invalid value: {number!r}: must be between 1 and 65535, inclusive")
            )  # fmt: skip
        if len(ports or []) > 1 and isinstance(port, dict) and not port.get("name"):
            causes.append((f"spec.ports[{index}].name", "Required value"))


def validate(resource: ResourceType, obj: JSON, old: JSON | None) -> None:
    """Raise 422 Invalid listing every problem found (``old`` is set on updates)."""
    causes: list[tuple[str, str]] = []
    name = (obj.get("metadata") or {}).get("name")
    _check_name(resource, name, causes)
    if resource in (DEPLOYMENTS, REPLICASETS):
        _check_workload(obj, old, causes)
    elif resource == PODS:
        _check_pod_spec(obj.get("spec"), "spec", causes)
        if old is not None:
            _check_pod_update(obj, old, causes)
    elif resource == SERVICES:
        _check_service(obj, old, causes)
    if causes:
        raise invalid(resource, str(name or ""), causes)


def _check_pod_update(obj: JSON, old: JSON, causes: list[tuple[str, str]]) -> None:
    # A pod's spec is immutable but for images and a few scheduling fields.
    def without_images(spec: JSON) -> JSON:
        spec = copy.deepcopy(spec)
        for container in spec.get("containers") or []:
            container.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            spec.pop(key, None)
        return spec

    if without_images(obj.get("spec") or {}) != without_images(old.get("spec") or {}):
        causes.append(("spec", "Forbidden: pod updates may not change fields other than "
                       "`spec.containers[*].image`, `spec.activeDeadlineSeconds` or "
                       "`spec.tolerations` (only additions to existing tolerations)"))  # fmt: skip


def check_type(resource: ResourceType, body: Any) -> JSON:
    """The request body as an object of ``resource``'s kind, or a 400."""
    if not isinstance(body, dict):
        raise ApiError(
            400, "BadRequest", f"the body of the request must be a {resource.kind} object"
        )
    kind = body.get("kind")
    if kind not in (None, "", resource.kind):
        raise ApiError(
            400,
            "BadRequest",
            f"the object provided is unrecognized ({kind}), expected {resource.kind}",
        )
    return body
