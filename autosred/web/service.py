"""The web as one daemon reaches it: one search backend, one per-minute search limit, one
fetcher, shared by every caller.

The MCP ``search`` and ``fetch`` tools and the hosted ``web_search`` / ``web_fetch`` tools
the proxy runs for Claude Code and Codex all go through the daemon's one
:class:`WebService`, so they share its facts: ``mcp.search.per_minute`` counts every search
whoever asked, the robots.txt cache and curl's connections serve every fetch, and the
extraction workers are started once. The daemon builds it (:func:`build_web_service`) and
closes it after everything that uses it.

Failures are typed for any caller: :class:`SearchFailure` (``kind`` a
:class:`~autosred.web.search.backend.FailureKind`; the daemon's own limit is a
:class:`SearchLimited`, ``rate_limited`` with the exact wait) and :class:`FetchFailure`
(``kind`` a :class:`FetchFailureKind`). Their messages are sentences for the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

from autosred.config import FetchSettings, SearchSettings, Settings
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind
from autosred.web.fetch.fetcher import FetchedPage, Fetcher, HostCheck
from autosred.web.fetch.guard import Resolver, system_resolver
from autosred.web.search.backend import (
    FailureKind,
    SearchBackend,
    SearchFailure,
    SearchHit,
    SearchQuery,
)
from autosred.web.search.factory import build_backend
from autosred.web.search.ratelimit import SearchLimited, SlidingWindowLimit


class WebService:
    """Search and fetch for one daemon. ``search`` / ``fetch``: the settings of each part, or
    None to leave it out (its calls then fail ``unavailable``). Building one holds nothing
    yet: the backend's threads or session, curl's handle and the extraction workers start
    with their first use. ``clock`` (monotonic seconds) drives the search limit;
    ``resolver`` and ``executor`` are the fetcher's seams (tests, the benchmark); ``log``
    gets the backend's warnings (engines ddgs lacks, a library's own failure)."""

    def __init__(
        self,
        *,
        search: SearchSettings | None = None,
        fetch: FetchSettings | None = None,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        resolver: Resolver = system_resolver,
        executor: Executor | None = None,
    ) -> None:
        self._log = log or logging.getLogger("autosred.web")
        self._backend: SearchBackend | None = None
        self._limit: SlidingWindowLimit | None = None
        if search is not None:
            self._backend = build_backend(search, log=self._log)
            self._limit = SlidingWindowLimit(search.per_minute, clock=clock)
        self._fetcher = (
            None if fetch is None else Fetcher(fetch, resolver=resolver, executor=executor)
        )

    @property
    def searches(self) -> bool:
        """Whether this service has a search backend."""
        return self._backend is not None

    @property
    def fetches(self) -> bool:
        """Whether this service has a fetcher."""
        return self._fetcher is not None

    @property
    def search_backend(self) -> str:
        """The backend's short name (``ddgs``, ``searxng``); "" without search."""
        return "" if self._backend is None else self._backend.name

    @property
    def search_per_minute(self) -> int:
        """``mcp.search.per_minute``; 0 without search."""
        return 0 if self._limit is None else self._limit.per_minute

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        """At most ``query.max_results`` hits, best first, never empty. Raises
        :class:`SearchFailure`: :class:`SearchLimited` (``rate_limited``, ``retry_after`` the
        exact wait) when the daemon's per-minute limit is used up, before any engine is
        asked; otherwise the backend's failure (``no_results``, ``rate_limited``,
        ``timeout``, ``unavailable``, ``upstream``)."""
        if self._backend is None or self._limit is None:
            raise SearchFailure(
                FailureKind.UNAVAILABLE,
                "Web search is not enabled on this server (mcp.search, hosted_tools.web_search).",
            )
        wait = self._limit.try_acquire()
        if wait is not None:
            raise SearchLimited(self._limit.per_minute, wait)
        return await self._backend.search(query)

    async def fetch(
        self, url: str, *, raw: bool = False, host_allowed: HostCheck | None = None
    ) -> FetchedPage:
        """The page at ``url``: HTML's main text as Markdown (as sent with ``raw``), JSON and
        text as they are, never cut. ``host_allowed``: the caller's own rule for the URL's
        host and every redirect hop's (a hosted tool's allowed and blocked domains). Raises
        :class:`FetchFailure` (``invalid_url``, ``url_not_allowed``, ``url_not_accessible``,
        ``unavailable``, ``too_large``, ``unsupported_content_type``, ``timeout``)."""
        if self._fetcher is None:
            raise FetchFailure(
                "Fetching web pages is not enabled on this server (mcp.fetch, "
                "hosted_tools.web_fetch).",
                kind=FetchFailureKind.UNAVAILABLE,
            )
        return await self._fetcher.fetch(url, raw=raw, host_allowed=host_allowed)

    async def warm(self) -> None:
        """Start the extraction workers now rather than on the first HTML page."""
        if self._fetcher is not None:
            await self._fetcher.warm()

    async def close(self) -> None:
        """Release the backend's threads or session, curl's handle and the extraction
        workers (waited for, so none outlives the daemon's stop). Once, at the end."""
        try:
            if self._backend is not None:
                await self._backend.aclose()
        finally:
            if self._fetcher is not None:
                await self._fetcher.close()


def build_web_service(settings: Settings, *, log: logging.Logger) -> WebService | None:
    """The daemon's one service: search when the MCP search server or the hosted
    ``web_search`` runs, fetch when the MCP fetch server or the hosted ``web_fetch`` does
    (both with ``mcp.search`` / ``mcp.fetch``'s settings); None when nothing needs the web."""
    search = settings.mcp.search
    fetch = settings.mcp.fetch
    wants_search = search.enabled or settings.hosted_web_search_enabled()
    wants_fetch = fetch.enabled or settings.hosted_web_fetch_enabled()
    if not (wants_search or wants_fetch):
        return None
    return WebService(
        search=search if wants_search else None,
        fetch=fetch if wants_fetch else None,
        log=log,
    )
