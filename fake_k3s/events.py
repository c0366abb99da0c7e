"""Recording core/v1 Events about objects, as the kubelet, scheduler and controllers do.

Repeats of one event (same object, reason and message) are folded into one Event whose
``count`` grows and ``lastTimestamp`` moves, as the real event recorder aggregates them; a
client watching events sees a MODIFIED for each repeat.
"""

from __future__ import annotations

import logging
import secrets

from fake_k3s.resources import EVENTS
from fake_k3s.store import JSON, Store, now

log = logging.getLogger("fake_k3s.events")


class EventRecorder:
    def __init__(self, *, store: Store, node_name: str) -> None:
        self._store = store
        self._node_name = node_name
        self._folded: dict[tuple[str, str, str, str], str] = {}

    def record(
        self,
        obj: JSON,
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "kubelet",
        field_path: str | None = None,
    ) -> None:
        metadata = obj["metadata"]
        namespace = metadata.get("namespace") or "default"
        event_type = "Warning" if warning else "Normal"
        log.info(
            "event %s %s/%s %s: %s", event_type, obj.get("kind"), metadata["name"], reason, message
        )
        key = (metadata["uid"], reason, message, component)
        stamp = now()
        name = self._folded.get(key)
        existing = self._store.find(EVENTS, namespace, name) if name else None
        if existing is not None:
            existing["count"] = int(existing.get("count", 1)) + 1
            existing["lastTimestamp"] = stamp
            self._store.replace(EVENTS, existing)
            return
        # Real event names are "<object>.<hex of the creation time>"; random hex keeps them
        # unique without a clock that ticks faster than the loop.
        name = f"{metadata['name']}.{secrets.token_hex(8)}"
        involved: JSON = {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": metadata["name"],
            "namespace": namespace,
            "uid": metadata["uid"],
            "resourceVersion": metadata.get("resourceVersion"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        source: JSON = {"component": component}
        if component == "kubelet":
            source["host"] = self._node_name
        event: JSON = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": self._node_name if component == "kubelet" else "",
        }
        self._store.insert(EVENTS, event)
        self._folded[key] = name
