"""The three patch formats a client may send, applied to a plain JSON object.

- JSON merge patch (RFC 7386, ``application/merge-patch+json``): maps merge, ``null`` deletes,
  anything else (lists included) replaces.
- JSON patch (RFC 6902, ``application/json-patch+json``): a list of operations on JSON pointers.
- Strategic merge patch (``application/strategic-merge-patch+json``, the official client's
  default for a dict body): a merge patch whose lists of named things (containers, env, ports,
  volumes, ...) are merged item by item on a key instead of replaced, with the ``$patch``
  directives ``replace``/``delete``/``merge``. The real server takes merge keys from each Go
  type's struct tags; this fake keys them by field name (:data:`MERGE_KEYS`), which agrees for
  every list in a Deployment, Pod or Service.
"""

from __future__ import annotations

import copy
from typing import Any

from fake_k3s.errors import ApiError, bad_request

MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    # Container ports merge on containerPort, Service ports on port: the items tell which.
    "ports": ("containerPort", "port"),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",),
}
"""Lists merged by key in a strategic merge patch; every other list is replaced."""

SET_LISTS = frozenset({"finalizers"})
"""Lists of scalars a strategic merge patch unions (patchStrategy "merge" on a []string)."""


def _invalid_patch(message: str) -> ApiError:
    return ApiError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {message}"
    )


# -- RFC 7386 -----------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge ----------------------------------------------------------------------------


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch)


def _merge_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive == "delete":
        return {}
    result = dict(target)
    for key, value in patch.items():
        if key.startswith("$"):
            # $patch handled above; $setElementOrder/... and $retainKeys only order or prune
            # what kubectl already sends in full, so they are safe to ignore here.
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list) and key in MERGE_KEYS:
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, key)
        elif isinstance(value, list) and key in SET_LISTS:
            current = result.get(key)
            merged = list(current) if isinstance(current, list) else []
            merged.extend(v for v in value if v not in merged)
            result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _item_key(item: Any, candidates: tuple[str, ...]) -> tuple[str, Any] | None:
    if not isinstance(item, dict):
        return None
    for name in candidates:
        if name in item:
            return (name, item[name])
    return None


def _merge_list(target: list[Any], patch: list[Any], field: str) -> list[Any]:
    candidates = MERGE_KEYS[field]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        key = _item_key(item, candidates)
        if key is None:
            raise _invalid_patch(f"{field}: an item has none of the merge keys {candidates}")
        index = next((i for i, old in enumerate(result) if _item_key(old, candidates) == key), None)
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            result[index] = _merge_map(result[index], item)
    return result


# -- RFC 6902 -----------------------------------------------------------------------------------


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a JSON array of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        document = _apply_operation(document, operation)
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid_patch(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, tokens: list[str], path: str) -> Any:
    node = document
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise _invalid_patch(f"path {path!r} does not exist")


def _get(document: Any, path: str) -> Any:
    node = document
    for token in _pointer(path):
        node = _child(node, token, path)
    return node


def _remove(document: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise _invalid_patch("cannot remove the whole document")
    parent = _parent(document, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise _invalid_patch(f"path {path!r} does not exist")


def _add(document: Any, path: str, value: Any, *, replace: bool) -> Any:
    tokens = _pointer(path)
    value = copy.deepcopy(value)
    if not tokens:
        return value
    parent = _parent(document, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid_patch(f"path {path!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise _invalid_patch(f"index in path {path!r} is out of range")
    else:
        raise _invalid_patch(f"path {path!r} does not point into an object or array")
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op, path = operation["op"], operation["path"]
    if op in ("add", "replace"):
        if "value" not in operation:
            raise bad_request(f"JSON patch {op} at {path!r} has no value")
        return _add(document, path, operation["value"], replace=op == "replace")
    if op == "remove":
        _remove(document, path)
        return document
    if op in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise bad_request(f"JSON patch {op} at {path!r} has no 'from'")
        value = _remove(document, source) if op == "move" else copy.deepcopy(_get(document, source))
        return _add(document, path, value, replace=False)
    if op == "test":
        if _get(document, path) != operation.get("value"):
            raise _invalid_patch(f"test operation failed at {path!r}")
        return document
    raise bad_request(f"unknown JSON patch operation {op!r}")
