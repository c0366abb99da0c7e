"""Field ownership and server-side apply, as the API server keeps them in ``managedFields``.

Every write records which manager set which fields (the Kubernetes docs, "Server-Side
Apply"): an update (create, replace, a JSON/merge/strategic patch) makes its manager (the
``fieldManager`` parameter, else the User-Agent up to its first ``/``) the owner of the fields
it changed, taking them from whoever owned them; an apply (``application/apply-patch+yaml``)
makes its manager own exactly the fields of its configuration. An apply that would change a
field another manager owns is a 409 Conflict naming each field and its manager, unless
``force=true``, which takes the fields over; setting a field to the value it has already is
shared ownership, never a conflict. A field the manager applied before and leaves out now is
removed, unless another manager owns it too.

A field is a path of keys from the object's root; the items of a list of named things
(containers, env, ports, … the lists patches.MERGE_KEYS names) are addressed by their key
(``k:{"name":"vllm"}``), every other list is one value (atomic), as in the real schema.
Owners are keyed by (manager, operation, subresource): an Apply and an Update by the same
name are different owners, as on the real server.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fake_k3s.errors import ApiError
from fake_k3s.patches import MERGE_KEYS, strategic_merge_patch
from fake_k3s.store import JSON, now

Key = tuple[tuple[str, Any], ...]
Step = str | Key
Path = tuple[Step, ...]

APPLY = "Apply"
UPDATE = "Update"

_UNTRACKED_METADATA = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
     "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Owner:
    manager: str
    operation: str
    subresource: str = ""


def _item_key(item: Any, field: str) -> Key | None:
    if not isinstance(item, dict):
        return None
    for name in MERGE_KEYS[field]:
        if name in item:
            if not isinstance(item[name], str | int | bool | None):
                return None  # not a key the schema allows: the list is treated as one value
            keys = [name]
            if "protocol" in item and name in ("containerPort", "port"):
                keys.append("protocol")
            return tuple((k, item[k]) for k in keys)
    return None


def leaves(obj: Any, prefix: Path = ()) -> dict[Path, Any]:
    """Every field of ``obj`` (server-owned metadata and status left out) with its value."""
    found: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return found
    for name, value in obj.items():
        if not prefix and name in ("apiVersion", "kind", "status"):
            continue
        if prefix == ("metadata",) and name in _UNTRACKED_METADATA:
            continue
        path = (*prefix, name)
        if isinstance(value, dict) and value:
            found.update(leaves(value, path))
        elif isinstance(value, list) and name in MERGE_KEYS and value:
            keyed = [(_item_key(item, name), item) for item in value]
            if any(key is None for key, _ in keyed):
                found[path] = value
                continue
            for key, item in keyed:
                assert key is not None
                found.update(leaves(item, (*path, key)))
        else:
            found[path] = value
    return found


def _encode(step: Step) -> str:
    if isinstance(step, str):
        return f"f:{step}"
    return "k:" + json.dumps(dict(step), separators=(",", ":"), sort_keys=True)


def _decode(text: str) -> Step:
    if text.startswith("k:"):
        return tuple(sorted(json.loads(text[2:]).items()))
    return text[2:]


def fields_v1(paths: Iterable[Path]) -> JSON:
    """Paths as the nested ``fieldsV1`` map the API server writes."""
    tree: JSON = {}
    for path in sorted(paths, key=repr):
        node = tree
        for step in path:
            node = node.setdefault(_encode(step), {})
    return tree


def _paths(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    found: set[Path] = set()
    for text, child in tree.items():
        if text == ".":
            continue
        path = (*prefix, _decode(text))
        if isinstance(child, dict) and any(k != "." for k in child):
            found |= _paths(child, path)
        else:
            found.add(path)
    return found


def ownership(obj: JSON) -> dict[Owner, set[Path]]:
    """Who owns which fields of ``obj``, read back from its ``metadata.managedFields``."""
    owners: dict[Owner, set[Path]] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        owner = Owner(entry["manager"], entry["operation"], entry.get("subresource", ""))
        owners[owner] = _paths(entry.get("fieldsV1") or {})
    return owners


def _entries(
    old: JSON | None, owners: Mapping[Owner, set[Path]], touched: set[Owner], api_version: str
) -> list[JSON]:
    """managedFields for ``owners``; an entry whose fields did not change keeps its time."""
    before = {
        Owner(e["manager"], e["operation"], e.get("subresource", "")): e
        for e in ((old or {}).get("metadata") or {}).get("managedFields") or []
    }
    entries = []
    for owner in sorted(owners):
        paths = owners[owner]
        if not paths:
            continue
        entry: JSON = {
            "manager": owner.manager,
            "operation": owner.operation,
            "apiVersion": api_version,
            "time": now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(paths),
        }
        if owner.subresource:
            entry["subresource"] = owner.subresource
        previous = before.get(owner)
        unchanged = previous is not None and (
            owner not in touched or previous.get("fieldsV1") == entry["fieldsV1"]
        )
        if unchanged and previous is not None:
            entry["time"] = previous.get("time", entry["time"])
        entries.append(entry)
    return entries


def record_update(old: JSON | None, new: JSON, owner: Owner) -> None:
    """Set ``new``'s managedFields after an update by ``owner`` (``old`` None: a create):
    it owns what it changed, nobody owns what it removed."""
    before = leaves(old) if old is not None else {}
    after = leaves(new)
    changed = {path for path, value in after.items() if before.get(path, _MISSING) != value}
    removed = set(before) - set(after)
    owners = ownership(old) if old is not None else {}
    for paths in owners.values():
        paths -= changed | removed
    owners[owner] = (owners.get(owner, set()) - removed) | changed
    new.setdefault("metadata", {})["managedFields"] = _entries(
        old, owners, {owner}, str(new.get("apiVersion", ""))
    )


def apply(live: JSON | None, config: JSON, manager: str, *, force: bool) -> JSON:
    """``live`` with ``config`` applied by ``manager`` (``live`` None: the object is new):
    the merged object, its managedFields set; raises the 409 the API server sends for
    fields other managers own."""
    owner = Owner(manager, APPLY)
    applied = leaves(config)
    current = leaves(live) if live is not None else {}
    owners = ownership(live) if live is not None else {}
    conflicts = sorted(
        (path, other)
        for other, paths in owners.items()
        if other != owner
        for path in paths & set(applied)
        if path in current and current[path] != applied[path]
    )
    if conflicts and not force:
        raise _conflict(config, conflicts)
    for path, other in conflicts:
        owners[other].discard(path)
    merged: JSON = strategic_merge_patch(copy.deepcopy(live) if live is not None else {}, config)
    dropped = owners.get(owner, set()) - set(applied)
    for path in dropped:
        if not any(path in paths for other, paths in owners.items() if other != owner):
            _remove(merged, path)
    owners[owner] = set(applied)
    merged.setdefault("metadata", {})["managedFields"] = _entries(
        live, owners, {owner}, str(config.get("apiVersion", ""))
    )
    return merged


class _Missing:
    pass


_MISSING = _Missing()


def _remove(obj: JSON, path: Path) -> None:
    node: Any = obj
    for step in path[:-1]:
        node = _step(node, step)
        if node is None:
            return
    last = path[-1]
    parent_key = path[-2] if len(path) > 1 else None
    if isinstance(parent_key, tuple) and any(name == last for name, _ in parent_key):
        # An item's key field no longer owned: the item itself goes (as in the real server,
        # whose item is owned by its key).
        _remove(obj, path[:-1])
        return
    if isinstance(node, dict) and isinstance(last, str):
        node.pop(last, None)
    elif isinstance(node, list):
        node[:] = [item for item in node if not _matches(item, last)]


def _step(node: Any, step: Step) -> Any:
    if isinstance(node, dict) and isinstance(step, str):
        return node.get(step)
    if isinstance(node, list) and not isinstance(step, str):
        return next((item for item in node if _matches(item, step)), None)
    return None


def _matches(item: Any, key: Step) -> bool:
    return (
        isinstance(item, dict)
        and not isinstance(key, str)
        and all(item.get(name) == value for name, value in key)
    )


def field_text(path: Path) -> str:
    """A path as the API server's conflict messages write it: ``.spec.template.spec
    .containers[name="vllm"].image``."""
    text = ""
    for step in path:
        if isinstance(step, str):
            text += f".{step}"
        else:
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in step) + "]"
    return text


def _conflict(config: JSON, conflicts: list[tuple[Path, Owner]]) -> ApiError:
    api_version = str(config.get("apiVersion", ""))
    parts = [f'conflict with "{other.manager}"' + (f" using {api_version}" if
             other.operation == UPDATE else "") + f": {field_text(path)}"
             for path, other in conflicts]  # fmt: skip
    count = len(conflicts)
    if count == 1:
        message = f"Apply failed with 1 conflict: {parts[0]}"
    else:
        message = f"Apply failed with {count} conflicts: " + "\n".join(parts)
    return ApiError(
        409,
        "Conflict",
        message,
        {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": part.rsplit(": ", 1)[0],
                    "field": field_text(path),
                }
                for part, (path, _) in zip(parts, conflicts, strict=True)
            ]
        },
    )


__all__ = ["APPLY", "UPDATE", "Owner", "apply", "field_text", "fields_v1", "leaves",
           "ownership", "record_update"]  # fmt: skip
