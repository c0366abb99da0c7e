"""The Deployment and ReplicaSet controllers.

A Deployment owns one ReplicaSet per pod template (named ``<deployment>-<pod-template-hash>``)
and the ReplicaSet owns the pods (``<replicaset>-<5 chars>``, labels from the template plus
``pod-template-hash``, ``ownerReferences`` to the ReplicaSet), as in a real cluster, so a
client finding "its" pod by the Deployment's selector sees what it would on k3s.

Strategy ``Recreate``: old ReplicaSets go to 0 and the new one is scaled up only once their
pods are gone. ``RollingUpdate`` (simplified): the new ReplicaSet is scaled up at once and the
old ones go to 0 when the new pods are Ready; with one GPU the new pod therefore waits as
Unschedulable behind the old one, which is why a GPU Deployment wants Recreate.

Status follows the real fields (zero counts are omitted, as the API server's ``omitempty``
does): observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas,
unavailableReplicas, and the Available and Progressing conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json

from fake_k3s.events import EventRecorder
from fake_k3s.registry import Registry, owned_by, random_suffix
from fake_k3s.resources import DEPLOYMENTS, PODS, REPLICASETS
from fake_k3s.store import JSON, Change, Store, now

_HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: JSON) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_CHARS[b % len(_HASH_CHARS)] for b in digest[:10])


def pod_ready(pod: JSON) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _owner_ref(owner: JSON) -> JSON:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _condition(old: list[JSON], kind: str, status: bool, reason: str, message: str) -> JSON:
    text = "True" if status else "False"
    stamp = now()
    previous = next((c for c in old if c.get("type") == kind), None)
    transition = (
        previous["lastTransitionTime"] if previous and previous["status"] == text else stamp
    )
    same = previous is not None and (
        previous["status"],
        previous.get("reason"),
        previous.get("message"),
    ) == (text, reason, message)
    return {
        "type": kind,
        "status": text,
        "lastUpdateTime": previous["lastUpdateTime"] if same and previous else stamp,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


class Controllers:
    def __init__(self, *, registry: Registry, events: EventRecorder) -> None:
        self._registry = registry
        self._store: Store = registry.store
        self._events = events
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._store.listeners.append(self._on_change)
        self._task = asyncio.create_task(self._run(), name="fake-k3s.controllers")
        self._wake.set()

    def _on_change(self, change: Change) -> None:
        if change.resource in (DEPLOYMENTS, REPLICASETS, PODS):
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            for deployment in self._store.list(DEPLOYMENTS):
                self._sync_deployment(deployment)
            for replicaset in self._store.list(REPLICASETS):
                self._sync_replicaset(replicaset)
            # Deployment status reads ReplicaSet and pod state: one more pass settles it (a
            # pass that changes nothing writes nothing and wakes nobody).
            await asyncio.sleep(0)

    # -- deployments --------------------------------------------------------------------------

    def _sync_deployment(self, deployment: JSON) -> None:
        metadata = deployment["metadata"]
        namespace, uid = metadata["namespace"], metadata["uid"]
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        owned = [rs for rs in self._store.list(REPLICASETS, namespace) if owned_by(rs, uid)]
        pods = self._store.list(PODS, namespace)
        wanted_hash = template_hash(spec["template"])
        new = next(
            (rs for rs in owned if rs["metadata"].get("labels", {}).get(HASH_LABEL) == wanted_hash),
            None,
        )
        old = [rs for rs in owned if rs is not new]
        if new is None:
            new = self._create_replicaset(deployment, wanted_hash, owned)
        pods_of = {
            rs["metadata"]["uid"]: [p for p in pods if owned_by(p, rs["metadata"]["uid"])]
            for rs in (*old, new)
        }
        old_pods = [p for rs in old for p in pods_of[rs["metadata"]["uid"]]]
        new_pods = pods_of[new["metadata"]["uid"]]
        recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
        if recreate:
            for rs in old:
                self._scale_replicaset(deployment, rs, 0)
            target = 0 if old_pods and not new_pods else desired
        else:
            target = desired
            ready_new = sum(
                1 for p in new_pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
            )
            if ready_new >= desired:
                for rs in old:
                    self._scale_replicaset(deployment, rs, 0)
        self._scale_replicaset(deployment, new, target)
        self._update_deployment_status(deployment, new, old_pods, new_pods)

    def _create_replicaset(self, deployment: JSON, pod_hash: str, owned: list[JSON]) -> JSON:
        metadata = deployment["metadata"]
        template = copy.deepcopy(deployment["spec"]["template"])
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(deployment["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        annotations = {
            REVISION: str(max(revisions, default=0) + 1),
            "deployment.kubernetes.io/desired-replicas": str(deployment["spec"].get("replicas", 1)),
            "deployment.kubernetes.io/max-replicas": str(deployment["spec"].get("replicas", 1)),
        }
        body: JSON = {
            "metadata": {
                "name": f"{metadata['name']}-{pod_hash}",
                "namespace": metadata["namespace"],
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [_owner_ref(deployment)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        return self._registry.create(REPLICASETS, metadata["namespace"], body)

    def _scale_replicaset(self, deployment: JSON, replicaset: JSON, replicas: int) -> None:
        current = int(replicaset["spec"].get("replicas", 0))
        if current == replicas:
            return
        replicaset["spec"]["replicas"] = replicas
        stored = self._registry.replace(
            REPLICASETS,
            replicaset["metadata"]["namespace"],
            replicaset["metadata"]["name"],
            replicaset,
        )
        replicaset.update(stored)
        direction = "up" if replicas > current else "down"
        name = replicaset["metadata"]["name"]
        self._events.record(
            deployment,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {name} from {current} to {replicas}",
            component="deployment-controller",
        )

    def _update_deployment_status(
        self, deployment: JSON, new: JSON, old_pods: list[JSON], new_pods: list[JSON]
    ) -> None:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        live_new = [p for p in new_pods if not p["metadata"].get("deletionTimestamp")]
        live = [p for p in old_pods if not p["metadata"].get("deletionTimestamp")] + live_new
        ready = sum(1 for p in live if pod_ready(p))
        counts = {
            "replicas": len(live),
            "updatedReplicas": len(live_new),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "unavailableReplicas": max(desired - ready, 0) if live or desired else 0,
        }
        old_status = deployment.get("status") or {}
        old_conditions = old_status.get("conditions") or []
        status: JSON = {"observedGeneration": deployment["metadata"].get("generation", 1)}
        status.update({key: value for key, value in counts.items() if value})
        available = ready >= desired
        rs_name = new["metadata"]["name"]
        complete = len(live_new) == desired and ready >= desired and not old_pods
        status["conditions"] = [
            _condition(
                old_conditions, "Available", available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability." if available
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                old_conditions, "Progressing", True,
                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" has successfully progressed.' if complete
                else f'ReplicaSet "{rs_name}" is progressing.',
            ),
        ]  # fmt: skip
        if status != old_status:
            metadata = deployment["metadata"]
            updated = {**deployment, "status": status}
            self._registry.replace(
                DEPLOYMENTS, metadata["namespace"], metadata["name"], updated, subresource="status"
            )

    # -- replicasets --------------------------------------------------------------------------

    def _sync_replicaset(self, replicaset: JSON) -> None:
        metadata = replicaset["metadata"]
        namespace, uid = metadata["namespace"], metadata["uid"]
        pods = [p for p in self._store.list(PODS, namespace) if owned_by(p, uid)]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        desired = int(replicaset["spec"].get("replicas", 0))
        for _ in range(desired - len(live)):
            live.append(self._create_pod(replicaset))
        if len(live) > desired:
            # Delete the least advanced first: unscheduled, then not ready, then the newest.
            live.sort(
                key=lambda p: (
                    bool(p["spec"].get("nodeName")),
                    pod_ready(p),
                    -int(p["metadata"]["resourceVersion"]),
                )
            )
            for pod in live[: len(live) - desired]:
                self._registry.delete(PODS, namespace, pod["metadata"]["name"])
                self._events.record(
                    replicaset, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}",
                    component="replicaset-controller",
                )  # fmt: skip
            live = live[len(live) - desired :]
        ready = sum(1 for p in live if pod_ready(p))
        status: JSON = {"replicas": len(live), "observedGeneration": metadata.get("generation", 1)}
        for key, value in (
            ("fullyLabeledReplicas", len(live)),
            ("readyReplicas", ready),
            ("availableReplicas", ready),
        ):
            if value:
                status[key] = value
        if status != replicaset.get("status"):
            self._registry.replace(
                REPLICASETS,
                namespace,
                metadata["name"],
                {**replicaset, "status": status},
                subresource="status",
            )

    def _create_pod(self, replicaset: JSON) -> JSON:
        metadata = replicaset["metadata"]
        template = copy.deepcopy(replicaset["spec"]["template"])
        template_metadata = template.get("metadata") or {}
        body: JSON = {
            "metadata": {
                "name": f"{metadata['name']}-{random_suffix()}",
                "generateName": f"{metadata['name']}-",
                "namespace": metadata["namespace"],
                "labels": dict(template_metadata.get("labels") or {}),
                "ownerReferences": [_owner_ref(replicaset)],
            },
            "spec": template["spec"],
        }
        if template_metadata.get("annotations"):
            body["metadata"]["annotations"] = dict(template_metadata["annotations"])
        pod = self._registry.create(PODS, metadata["namespace"], body)
        self._events.record(
            replicaset, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}",
            component="replicaset-controller",
        )  # fmt: skip
        return pod

    async def aclose(self) -> None:
        with contextlib.suppress(ValueError):
            self._store.listeners.remove(self._on_change)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
