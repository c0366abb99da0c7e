"""Built-in recipes shipped in the package (autosred/data/recipes/*.yaml), and ``extends``.

A built-in is never active by itself: a recipe enables it with ``extends: NAME`` and overrides
what differs (mappings are merged key by key, anything else is replaced). A recipe that is only
``extends: NAME`` runs the built-in as shipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

EXTENDS = "extends"


def builtin_names() -> list[str]:
    """The names of the built-in recipes, sorted."""
    return sorted(_builtins())


def builtin_recipe(name: str) -> dict[str, Any]:
    """A built-in recipe as a raw mapping; KeyError for an unknown name."""
    return dict(_builtins()[name])


def expand(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with its ``extends`` resolved; ValueError names an unknown built-in."""
    if EXTENDS not in data:
        return dict(data)
    rest = {key: value for key, value in data.items() if key != EXTENDS}
    base_name = data[EXTENDS]
    builtins = _builtins()
    if not isinstance(base_name, str) or base_name not in builtins:
        known = ", ".join(sorted(builtins)) or "none"
        raise ValueError(f"{base_name!r} is not a built-in recipe (built-ins: {known})")
    return _merge(builtins[base_name], rest)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _builtins() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    folder = resources.files("autosred") / "data" / "recipes"
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                found[data["name"]] = data
    return found


__all__ = ["EXTENDS", "builtin_names", "builtin_recipe", "expand"]
