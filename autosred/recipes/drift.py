"""Drift: what differs, field by field, between a recipe's rendered Deployment and what runs.

Pure functions over JSON dicts (the renderer's output and objects as the API server returns
them). Fields the API server fills in by default are not drift: probes, volumes and the like
are compared as "everything the recipe sets has that value"; lists whose every element the
recipe sets (args, command, env, resources) are compared exactly, so a variable someone added
by hand is drift too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from autosred.recipes.render import (
    CONTAINER,
    DIGEST_ANNOTATION,
    HASH_ANNOTATION,
    IMAGE_ANNOTATION,
    image_digest,
    split_image,
)

JSON = dict[str, Any]
MISSING = "(none)"


@dataclass(frozen=True)
class FieldDrift:
    """One field that differs: its path (``container.args``, ``container.env.HF_TOKEN``,
    ``image.digest``…), the recipe's value and the live one, as text."""

    field: str
    recipe: str
    live: str


@dataclass(frozen=True)
class DriftResult:
    """The whole comparison for one recipe."""

    deployed: bool
    """Whether the Deployment exists (no Deployment: nothing to compare, no drift)."""
    recipe_hash: str
    live_hash: str | None = None
    """The hash annotated on the running pod (else the Deployment's template)."""
    pod: str | None = None
    """The pod compared, when one runs."""
    fields: tuple[FieldDrift, ...] = field(default_factory=tuple)

    @property
    def drifted(self) -> bool:
        return bool(self.fields)


def compare(want: JSON, live: JSON | None, pod: JSON | None = None) -> DriftResult:
    """``want``: the rendered Deployment; ``live``: the Deployment read back (None: absent);
    ``pod``: the recipe's current pod, if any."""
    recipe_hash = _annotation(want["spec"]["template"], HASH_ANNOTATION) or ""
    if live is None:
        return DriftResult(deployed=False, recipe_hash=recipe_hash)
    fields = deployment_drift(want, live)
    live_hash = _annotation(live["spec"]["template"], HASH_ANNOTATION)
    pod_name = None
    if pod is not None:
        pod_name = (pod.get("metadata") or {}).get("name")
        fields += pod_drift(want, live, pod)
        live_hash = _annotation(pod, HASH_ANNOTATION) or live_hash
    return DriftResult(
        deployed=True,
        recipe_hash=recipe_hash,
        live_hash=live_hash,
        pod=pod_name,
        fields=tuple(fields),
    )


def deployment_drift(want: JSON, live: JSON) -> list[FieldDrift]:
    """The template of ``live`` against ``want``'s."""
    want_pod = want["spec"]["template"]
    live_pod = (live.get("spec") or {}).get("template") or {}
    fields = _pod_spec_drift(want_pod.get("spec") or {}, live_pod.get("spec") or {})
    want_hash = _annotation(want_pod, HASH_ANNOTATION)
    live_hash = _annotation(live_pod, HASH_ANNOTATION)
    if not fields and want_hash != live_hash:
        # Something the field list does not cover (labels, strategy…) differs.
        fields.append(FieldDrift("recipe-hash", _text(want_hash), _text(live_hash)))
    return fields


def pod_drift(want: JSON, live: JSON, pod: JSON) -> list[FieldDrift]:
    """The running pod: the spec it was created from, and the image digest it runs."""
    fields: list[FieldDrift] = []
    want_hash = _annotation(want["spec"]["template"], HASH_ANNOTATION)
    pod_hash = _annotation(pod, HASH_ANNOTATION)
    if want_hash != pod_hash:
        fields.append(FieldDrift("pod.recipe-hash", _text(want_hash), _text(pod_hash)))
        # Which fields: the pod's own spec against the recipe's (the Deployment may already
        # have been patched while the pod still runs the old template).
        for item in _pod_spec_drift(want["spec"]["template"].get("spec") or {}, _spec(pod)):
            fields.append(FieldDrift(f"pod.{item.field}", item.recipe, item.live))
    expected = expected_digest(want, live)
    running = running_digest(pod)
    if expected is not None and running is not None and expected != running:
        fields.append(FieldDrift("image.digest", expected, running))
    return fields


def expected_digest(want: JSON, live: JSON | None) -> str | None:
    """The digest the recipe's image should run: pinned in the image (``@sha256:…``), else the
    one recorded on the live Deployment for this same image, else unknown (None)."""
    image = str(_container(want["spec"]["template"].get("spec") or {}).get("image") or "")
    tag, pinned = split_image(image)
    if pinned:
        return pinned
    if live is None:
        return None
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if annotations.get(IMAGE_ANNOTATION) == tag:
        recorded = annotations.get(DIGEST_ANNOTATION)
        return str(recorded) if recorded else None
    return None


def running_digest(pod: JSON) -> str | None:
    """The image digest the pod's container runs (from its status' imageID), once known."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return image_digest(str(status.get("imageID") or ""))
    return None


# --- field by field ---------------------------------------------------------------------------


def _pod_spec_drift(want: Mapping[str, Any], live: Mapping[str, Any]) -> list[FieldDrift]:
    fields: list[FieldDrift] = []
    want_c = _container(want)
    live_c = _container(live)
    for key in ("image", "command", "args"):
        if want_c.get(key) != live_c.get(key):
            fields.append(
                FieldDrift(f"container.{key}", _text(want_c.get(key)), _text(live_c.get(key)))
            )
    fields += _env_drift(want_c.get("env") or [], live_c.get("env") or [])
    if _resources(want_c) != _resources(live_c):
        fields.append(
            FieldDrift("container.resources", _text(_resources(want_c)), _text(_resources(live_c)))
        )
    for key in ("ports", "startupProbe", "readinessProbe", "volumeMounts"):
        if not _covers(want_c.get(key), live_c.get(key)):
            fields.append(
                FieldDrift(f"container.{key}", _text(want_c.get(key)), _text(live_c.get(key)))
            )
    live_volumes = {v.get("name"): v for v in live.get("volumes") or []}
    for volume in want.get("volumes") or []:
        name = volume.get("name")
        if not _covers(volume, live_volumes.get(name)):
            fields.append(
                FieldDrift(f"pod.volumes.{name}", _text(volume), _text(live_volumes.get(name)))
            )
    if want.get("runtimeClassName") != live.get("runtimeClassName"):
        fields.append(
            FieldDrift(
                "pod.runtimeClassName",
                _text(want.get("runtimeClassName")),
                _text(live.get("runtimeClassName")),
            )
        )
    return fields


def _env_drift(want: list[JSON], live: list[JSON]) -> list[FieldDrift]:
    want_env = {item.get("name"): item for item in want}
    live_env = {item.get("name"): item for item in live}
    fields = []
    for name in sorted(set(want_env) | set(live_env), key=str):
        want_item, live_item = want_env.get(name), live_env.get(name)
        if _env_value(want_item) != _env_value(live_item):
            fields.append(
                FieldDrift(f"container.env.{name}", _env_value(want_item), _env_value(live_item))
            )
    return fields


def _env_value(item: JSON | None) -> str:
    if item is None:
        return MISSING
    if "valueFrom" in item:
        return _text(item["valueFrom"])
    return str(item.get("value", ""))


def _resources(container: Mapping[str, Any]) -> JSON:
    resources = container.get("resources") or {}
    return {
        key: {name: str(value) for name, value in (resources.get(key) or {}).items()}
        for key in ("limits", "requests")
        if resources.get(key)
    }


def _covers(want: object, live: object) -> bool:
    """Whether ``live`` has every value ``want`` sets (maps: key by key; lists: same length,
    element by element); what the API server added besides is not a difference."""
    if isinstance(want, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(_covers(value, live.get(key)) for key, value in want.items())
    if isinstance(want, list):
        if not isinstance(live, list) or len(want) != len(live):
            return False
        return all(_covers(w, v) for w, v in zip(want, live, strict=True))
    if want is None:
        return True
    if isinstance(want, int | float) and not isinstance(want, bool) and isinstance(live, str):
        return str(want) == live
    return bool(want == live)


def _container(pod_spec: Mapping[str, Any]) -> JSON:
    containers = pod_spec.get("containers") or []
    for container in containers:
        if container.get("name") == CONTAINER:
            return dict(container)
    return dict(containers[0]) if containers else {}


def _spec(pod: JSON) -> JSON:
    return dict(pod.get("spec") or {})


def _annotation(obj: Mapping[str, Any], key: str) -> str | None:
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    return str(value) if value is not None else None


def _text(value: object) -> str:
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


__all__ = [
    "DriftResult",
    "FieldDrift",
    "compare",
    "deployment_drift",
    "expected_digest",
    "pod_drift",
    "running_digest",
]
