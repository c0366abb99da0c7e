"""``autosrectl recipe apply``: a recipe's Service and Deployment made to match it through
server-side apply, for hosts that have no helm binary.

The objects are the ones the engine and helm/autosre render (recipes/render.py). Each is
applied with the field manager ``autosred`` (kube.client.FIELD_MANAGER): the API server
merges it, keeps the fields other managers set that the recipe does not name, and refuses,
naming them, to change fields another manager owns unless ``force`` is given. The
Deployment's replicas are applied as they are live (0 for a new one): the model's owner task
scales it through the scale subresource, and an apply must never start or stop a server.
A dry run asks the API server for the result (``dryRun=All``) and diffs it against the live
object, both without the fields the server manages (managedFields, resourceVersion, status, …).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import yaml

from autosred.engines.base import AppliedObject, ApplyRefused, EngineUnavailable
from autosred.kube import KubeClient, KubeConflict, KubeError, KubeNotFound, KubeUnavailable
from autosred.kube.client import ENGINE_MANAGER
from autosred.recipes import Recipe
from autosred.recipes.render import (
    NAME_LABEL,
    NAME_VALUE,
    RenderError,
    render_deployment,
    render_service,
)

JSON = dict[str, Any]

_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "creationTimestamp",
                    "generation", "selfLink")  # fmt: skip

Read = Callable[[str], Awaitable[JSON]]
Apply = Callable[..., Awaitable[JSON]]


async def apply_recipe(
    client: KubeClient, recipe: Recipe, *, dry_run: bool, force: bool
) -> list[AppliedObject]:
    """The Service, then the Deployment (the order the engine creates them in)."""
    try:
        service = render_service(recipe, namespace=client.namespace)
        deployment = render_deployment(recipe, namespace=client.namespace)
    except RenderError as exc:
        raise ApplyRefused(str(exc)) from exc
    return [
        await _apply_one(
            "Service", service, client.read_service, client.apply_service,
            dry_run=dry_run, force=force,
        ),
        await _apply_one(
            "Deployment", deployment, client.read_deployment, client.apply_deployment,
            dry_run=dry_run, force=force,
        ),
    ]  # fmt: skip


async def _apply_one(
    kind: str, want: JSON, read: Read, apply: Apply, *, dry_run: bool, force: bool
) -> AppliedObject:
    name = want["metadata"]["name"]
    try:
        try:
            live: JSON | None = await read(name)
        except KubeNotFound:
            live = None
        body = _body(kind, want, live)
        result = await apply(body, force=force, dry_run=dry_run)
    except KubeConflict as exc:
        raise ApplyRefused(_conflict_text(exc.message), conflict=True) from exc
    except KubeUnavailable as exc:
        raise EngineUnavailable(exc.message) from exc
    except KubeError as exc:
        raise ApplyRefused(exc.message) from exc
    before, after = _shown(live), _shown(result)
    action: Literal["created", "configured", "unchanged"]
    if live is None:
        action = "created"
    elif before == after:
        action = "unchanged"
    else:
        action = "configured"
    return AppliedObject(kind=kind, name=name, action=action, diff=_diff(kind, name, before, after))


def _conflict_text(message: str) -> str:
    text = f"{message} (another field manager set these fields; `--force` takes them over"
    if f'"{ENGINE_MANAGER}"' in message:
        # The engine deployed an earlier rendering of this recipe (on a wake); the apply
        # renders the same recipe, so taking its fields over loses nothing of anyone's.
        text += f"; {ENGINE_MANAGER} is the daemon's own earlier deploy of the recipe"
    return text + ")"


def _body(kind: str, want: JSON, live: JSON | None) -> JSON:
    """What to apply: the rendered object, with a live Deployment's replicas kept."""
    if live is None:
        return want
    labels = (live.get("metadata") or {}).get("labels") or {}
    if labels.get(NAME_LABEL) != NAME_VALUE:
        raise ApplyRefused(
            f"{kind.lower()} {live['metadata'].get('namespace')}/{want['metadata']['name']} "
            f"exists but is not autosred's (it lacks the label {NAME_LABEL}={NAME_VALUE}); "
            "rename the recipe or remove it"
        )
    if kind != "Deployment":
        return want
    body = copy.deepcopy(want)
    body["spec"]["replicas"] = (live.get("spec") or {}).get("replicas", 0)
    return body


def _shown(obj: JSON | None) -> JSON | None:
    """The object without what the API server manages (so a diff shows only real changes)."""
    if obj is None:
        return None
    shown = {key: value for key, value in obj.items() if key != "status"}
    metadata = dict(shown.get("metadata") or {})
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    shown["metadata"] = metadata
    return shown


def _diff(kind: str, name: str, before: JSON | None, after: JSON | None) -> str:
    if before == after:
        return ""
    label = f"{kind.lower()}/{name}"
    return "".join(
        difflib.unified_diff(
            _lines(before), _lines(after), fromfile=f"live {label}", tofile=f"applied {label}"
        )
    )


def _lines(obj: JSON | None) -> list[str]:
    if obj is None:
        return []
    text = yaml.safe_dump(obj, sort_keys=True, default_flow_style=False)
    return text.splitlines(keepends=True)
