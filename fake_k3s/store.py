"""Object storage with resourceVersions, a bounded change history and watch fan-out.

It plays etcd plus the API server's watch cache: every write gets the next value of one global
counter as its ``metadata.resourceVersion`` (so versions increase across all kinds, as in
etcd), and is appended to a history of changes. A watch starting from version N replays the
history after N, then follows live changes; one starting before what the history still holds
gets 410 Expired, exactly the case a real client must recover from by listing again.

Everything runs on one event loop and no method awaits, so each write, together with its
fan-out to watches and listeners, is atomic: a list followed by a watch from the list's
version never misses a change.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fake_k3s.errors import already_exists, expired, not_found
from fake_k3s.resources import ResourceType
from fake_k3s.selectors import FieldSelector, LabelSelector

JSON = dict[str, Any]
Key = tuple[str, str, str]  # (plural, namespace or "", name)


def now() -> str:
    """An RFC 3339 timestamp with second precision, as the API server writes them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One committed write. ``object`` and ``old`` are snapshots: never mutate them."""

    type: str
    """ADDED, MODIFIED or DELETED."""
    resource: ResourceType
    object: JSON
    old: JSON | None
    resource_version: int


class Watch:
    """One open watch; :attr:`queue` yields ``(event type, object)`` and ``None`` when cut."""

    def __init__(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.queue: asyncio.Queue[tuple[str, JSON] | None] = asyncio.Queue()

    def _selects(self, obj: JSON | None) -> bool:
        if obj is None:
            return False
        metadata = obj.get("metadata", {})
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)

    def translate(self, change: Change) -> tuple[str, JSON] | None:
        """The event this watch sees for ``change``, if any.

        With a selector, an object whose labels stop (or start) matching is seen as DELETED
        (or ADDED), as the API server does: the watcher's view stays consistent with a list.
        """
        if change.resource != self.resource:
            return None
        new = self._selects(change.object)
        if change.type == "ADDED":
            return ("ADDED", change.object) if new else None
        if change.type == "DELETED":
            return ("DELETED", change.object) if new else None
        old = self._selects(change.old)
        if old and new:
            return ("MODIFIED", change.object)
        if new:
            return ("ADDED", change.object)
        if old:
            return ("DELETED", change.object)
        return None

    def offer(self, change: Change) -> None:
        event = self.translate(change)
        if event is not None:
            self.queue.put_nowait(event)

    def cut(self) -> None:
        self.queue.put_nowait(None)


class Store:
    def __init__(self, *, history_limit: int = 1000) -> None:
        self._objects: dict[Key, JSON] = {}
        self._version = 0
        self._history: deque[Change] = deque()
        self._history_limit = history_limit
        self._floor = 0
        """The oldest version a watch may start from: every change after it is in history."""
        self._watches: set[Watch] = set()
        self.listeners: list[Callable[[Change], None]] = []
        """Called synchronously after each write (the controllers' informers)."""

    @property
    def resource_version(self) -> int:
        return self._version

    # -- reads --------------------------------------------------------------------------------

    @staticmethod
    def _key(resource: ResourceType, namespace: str | None, name: str) -> Key:
        return (resource.plural, (namespace or "") if resource.namespaced else "", name)

    def find(self, resource: ResourceType, namespace: str | None, name: str) -> JSON | None:
        obj = self._objects.get(self._key(resource, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> JSON:
        obj = self.find(resource, namespace, name)
        if obj is None:
            raise not_found(resource, name)
        return obj

    def _iter(self, resource: ResourceType, namespace: str | None) -> Iterator[JSON]:
        for (plural, ns, _), obj in sorted(self._objects.items()):
            if plural == resource.plural and (namespace is None or ns == namespace):
                yield obj

    def list(
        self,
        resource: ResourceType,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
    ) -> list[JSON]:
        return [
            copy.deepcopy(obj)
            for obj in self._iter(resource, namespace)
            if (labels is None or labels.matches(obj["metadata"].get("labels")))
            and (fields is None or fields.matches(obj))
        ]

    # -- writes -------------------------------------------------------------------------------

    def _commit(self, kind: str, resource: ResourceType, obj: JSON, old: JSON | None) -> None:
        change = Change(kind, resource, copy.deepcopy(obj), old, self._version)
        self._history.append(change)
        while len(self._history) > self._history_limit:
            self._floor = self._history.popleft().resource_version
        for watch in list(self._watches):
            watch.offer(change)
        for listener in list(self.listeners):
            listener(change)

    def insert(self, resource: ResourceType, obj: JSON) -> JSON:
        """Store a new object; fills uid, resourceVersion, creationTimestamp, generation."""
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        key = self._key(resource, metadata.get("namespace"), metadata["name"])
        if key in self._objects:
            raise already_exists(resource, metadata["name"])
        if not resource.namespaced:
            metadata.pop("namespace", None)
        self._version += 1
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        metadata["uid"] = str(uuid.uuid4())
        metadata["resourceVersion"] = str(self._version)
        metadata["creationTimestamp"] = now()
        metadata["generation"] = 1
        for transient in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            metadata.pop(transient, None)
        self._objects[key] = obj
        self._commit("ADDED", resource, obj, None)
        return copy.deepcopy(obj)

    def replace(self, resource: ResourceType, obj: JSON) -> JSON:
        """Overwrite a stored object; a write that changes nothing keeps its version (as the
        API server does: a no-op update sends no watch event)."""
        obj = copy.deepcopy(obj)
        metadata = obj["metadata"]
        key = self._key(resource, metadata.get("namespace"), metadata["name"])
        old = self._objects.get(key)
        if old is None:
            raise not_found(resource, metadata["name"])
        metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
        if obj == old:
            return copy.deepcopy(old)
        self._version += 1
        metadata["resourceVersion"] = str(self._version)
        self._objects[key] = obj
        self._commit("MODIFIED", resource, obj, old)
        return copy.deepcopy(obj)

    def remove(self, resource: ResourceType, namespace: str | None, name: str) -> JSON:
        key = self._key(resource, namespace, name)
        old = self._objects.pop(key, None)
        if old is None:
            raise not_found(resource, name)
        self._version += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self._version)
        self._commit("DELETED", resource, gone, old)
        return gone

    # -- watches ------------------------------------------------------------------------------

    def watch(
        self,
        resource: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: int | None,
    ) -> Watch:
        """Open a watch. ``since=None`` starts with an ADDED event for every object that
        matches (a real server's ``resourceVersion`` "" or "0"); a number replays history
        after it, or raises 410 Expired when that history is gone."""
        watch = Watch(resource, namespace, labels, fields)
        if since is None:
            for obj in self.list(resource, namespace, labels, fields):
                watch.queue.put_nowait(("ADDED", obj))
        elif since < self._floor:
            raise expired(since, self._floor)
        else:
            for change in self._history:
                if change.resource_version > since:
                    watch.offer(change)
        self._watches.add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        self._watches.discard(watch)

    def cut_watches(self) -> None:
        """End every open watch (the API server went away)."""
        for watch in list(self._watches):
            watch.cut()
        self._watches.clear()

    def compact(self) -> None:
        """Forget the history, as etcd compaction does: older watches now get 410."""
        self._history.clear()
        self._floor = self._version
