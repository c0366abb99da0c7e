"""Web search: ``SearchBackend`` (backend.py) is the seam; ddgs (ddgs_backend.py) and SearXNG
(searxng.py) implement it, ``build_backend`` (factory.py) picks one from the settings, and
``SlidingWindowLimit`` (ratelimit.py) is the daemon's per-minute cap."""

from autosred.web.search.backend import (
    FailureKind,
    SearchBackend,
    SearchFailure,
    SearchHit,
    SearchQuery,
)
from autosred.web.search.factory import build_backend

__all__ = [
    "FailureKind",
    "SearchBackend",
    "SearchFailure",
    "SearchHit",
    "SearchQuery",
    "build_backend",
]
