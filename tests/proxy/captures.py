"""Captured client requests, ``tests/data/captures/<client>/*.bodies/*.json`` (claude, codex).

Each file is one request a real client sent (method, path, query, headers, body), recorded
through a tee in front of a model server: Claude Code 2.1.197 (``claude``) and Codex CLI
0.169.0 (``codex``). They live in the repository so every clone runs the tests that read them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CAPTURES_DIR = Path(__file__).resolve().parents[1] / "data" / "captures"


def capture_bodies(client: str) -> list[tuple[str, dict[str, Any]]]:
    """Every captured request body of ``client``, as (name, body); never empty."""
    bodies = []
    for path in sorted((CAPTURES_DIR / client).glob("*.bodies/*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        body = record.get("body", record) if isinstance(record, dict) else record
        if isinstance(body, str):
            body = json.loads(body)
        bodies.append((f"{path.parent.name}/{path.name}", body))
    if not bodies:
        # A parametrized test over no captures would pass vacuously; fail loudly instead.
        raise FileNotFoundError(f"no captured request bodies under {CAPTURES_DIR / client}")
    return bodies
