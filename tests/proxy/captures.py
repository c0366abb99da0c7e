"""Captured client requests, ``../shared/captures/<client>/*.bodies/*.json`` (claude, codex)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# The repository sits beside ../shared in CI; in a worktree it is reached through parents.
_SHARED_CANDIDATES = (
    Path(__file__).resolve().parents[2] / ".." / "shared",
    Path(__file__).resolve().parents[2] / "shared",
)


def shared_dir(client: str) -> Path | None:
    for candidate in _SHARED_CANDIDATES:
        if (candidate / "captures" / client).is_dir():
            return candidate.resolve()
    return None


def capture_bodies(client: str) -> list[tuple[str, dict[str, Any]]]:
    """Every captured request body of ``client``, as (name, body)."""
    shared = shared_dir(client)
    if shared is None:
        return []
    bodies = []
    for path in sorted((shared / "captures" / client).glob("*.bodies/*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        body = record.get("body", record) if isinstance(record, dict) else record
        if isinstance(body, str):
            body = json.loads(body)
        bodies.append((f"{path.parent.name}/{path.name}", body))
    return bodies


def needs_captures(client: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        shared_dir(client) is None,
        reason=f"../shared/captures/{client} is not present beside the repo",
    )
