"""The one interface every web search backend implements, and the typed values it speaks.

The ``search`` tool group drives a :class:`SearchBackend`; so will whatever serves Claude
Code's and Codex's own web search tools (issue 10). A backend turns a :class:`SearchQuery`
into :class:`SearchHit` values or raises :class:`SearchFailure`, whose ``kind`` says what the
caller can tell the model (rate limited: wait; no results: rephrase; the rest: retry later or
tell the operator). A backend never raises anything else for a failure of the search itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

SafeSearch = Literal["on", "moderate", "off"]
TimeLimit = Literal["d", "w", "m", "y"]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for. ``region`` is ddgs's ``country-language`` code (``us-en``, ``de-de``,
    ``wt-wt`` for none); each backend maps it, ``safesearch`` and ``timelimit`` (day, week,
    month, year) onto its own parameters."""

    text: str
    max_results: int = 10
    region: str | None = None
    safesearch: SafeSearch = "moderate"
    timelimit: TimeLimit | None = None


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: where it is, what it is called, and the engine's snippet (may be empty)."""

    title: str
    url: str
    snippet: str = ""


class FailureKind(Enum):
    RATE_LIMITED = "rate_limited"
    """The engine (or SearXNG's engines) refused us for asking too often: wait, then retry."""
    NO_RESULTS = "no_results"
    """The search ran and found nothing: rephrase, broaden, or drop the filters."""
    TIMEOUT = "timeout"
    """No answer within ``mcp.search.timeout``."""
    UNAVAILABLE = "unavailable"
    """The backend could not be reached (refused connection, DNS, TLS)."""
    UPSTREAM = "upstream"
    """The backend answered, but not with results (an HTTP error, a body we cannot read)."""


class SearchFailure(Exception):
    """A search that produced no results, and why. ``message`` is a sentence for the model;
    ``retry_after`` (seconds) is the wait the upstream asked for, when it said."""

    def __init__(self, kind: FailureKind, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


class SearchBackend(Protocol):
    """A web search engine as the tools see it."""

    @property
    def name(self) -> str:
        """Short name for logs, metrics and the result header (``ddgs``, ``searxng``)."""
        ...

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """At most ``query.max_results`` hits, best first, never an empty list: finding
        nothing raises ``SearchFailure(NO_RESULTS)``."""
        ...

    async def aclose(self) -> None:
        """Release sessions and threads; called once."""
        ...


def usable_hits(hits: list[SearchHit], limit: int) -> list[SearchHit]:
    """The hits a model can follow: an http(s) URL, each URL once, at most ``limit``."""
    seen: set[str] = set()
    kept: list[SearchHit] = []
    for hit in hits:
        url = hit.url.strip()
        if not url.lower().startswith(("http://", "https://")) or url in seen:
            continue
        seen.add(url)
        kept.append(hit)
        if len(kept) == limit:
            break
    return kept
