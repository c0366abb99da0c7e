"""Web search for the model: the ``search`` tool group and the backends behind it.

``SearchBackend`` (backend.py) is the seam: ddgs (ddgs_backend.py) and SearXNG (searxng.py)
implement it, and so can any later backend; ``SearchTools`` (group.py) is the MCP tool group
over it, with the daemon's per-minute limit (ratelimit.py) and the Markdown rendering
(render.py).
"""

from autosred.mcp.search.backend import (
    FailureKind,
    SearchBackend,
    SearchFailure,
    SearchHit,
    SearchQuery,
)
from autosred.mcp.search.group import SearchTools, build_backend

__all__ = [
    "FailureKind",
    "SearchBackend",
    "SearchFailure",
    "SearchHit",
    "SearchQuery",
    "SearchTools",
    "build_backend",
]
