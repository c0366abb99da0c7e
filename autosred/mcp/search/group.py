"""The ``search`` tool group: one tool, ``search``, over the configured backend.

Every failure reaches the model as a tool error with what to do next: the daemon's own
per-minute limit and an engine's rate limit say how long to wait, "no results" says to
rephrase (and, for ddgs, that a refusing engine looks the same), the rest say to retry later
or to tell the user. Nothing here raises for a failed search.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from autosred.config import SearchSettings
from autosred.mcp.search.render import one_line, render_hits
from autosred.mcp.tools import ToolResult, ToolSpec, parse_arguments, schema_of
from autosred.web.search.backend import (
    FailureKind,
    SafeSearch,
    SearchFailure,
    SearchQuery,
    TimeLimit,
)
from autosred.web.search.ratelimit import SearchLimited
from autosred.web.service import WebService

MAX_RESULTS = 30
_DEFAULT_RATE_LIMIT_WAIT = 60  # seconds, when an engine refused us without saying how long
_OPERATORS = frozenset({FailureKind.UNAVAILABLE, FailureKind.UPSTREAM})


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500, description="What to search the web for.")
    max_results: int = Field(
        default=10, ge=1, le=MAX_RESULTS, description="How many results to return at most."
    )
    region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}-[a-z]{2}$",
        description="Region as country-language, e.g. us-en, uk-en, de-de, fr-fr; wt-wt for "
        "no region. Default: the backend's own.",
    )
    safesearch: SafeSearch = Field(default="moderate", description="Filter explicit results.")
    timelimit: TimeLimit | None = Field(
        default=None,
        description="Only pages from the last day (d), week (w), month (m) or year (y).",
    )

    @field_validator("query")
    @classmethod
    def _has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is blank")
        return value.strip()


class SearchTools:
    """The ``search`` MCP server's tools, over ``web``: the daemon's :class:`WebService`
    (its backend and per-minute limit, shared with the hosted web search), which the daemon
    closes; without one, the group builds its own from ``settings`` (with ``clock``, the
    monotonic seconds that drive the limit) and closes it. ``log`` gets one ``mcp.search.*``
    line per search. Building one holds nothing yet: the backend's threads or HTTP session
    start with the first search."""

    name = "search"

    def __init__(
        self,
        settings: SearchSettings,
        *,
        web: WebService | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self._log = log or logging.getLogger("autosred.mcp.search")
        self._owns_web = web is None
        self._web = web or WebService(search=settings, log=self._log, clock=clock)
        self._clock = clock

    def tools(self) -> Sequence[ToolSpec]:
        return [
            ToolSpec(
                name="search",
                title="Web search",
                description=(
                    "Search the web. Returns a numbered Markdown list of results, each with "
                    "its title, URL and a snippet; fetch a URL to read the page. Searches are "
                    f"limited to {self._web.search_per_minute} a minute for everyone using "
                    "this server, so search with purpose."
                ),
                input_schema=schema_of(SearchArgs),
                handler=self._search,
                read_only=True,
            )
        ]

    async def close(self) -> None:
        if self._owns_web:
            await self._web.close()

    async def _search(self, arguments: Mapping[str, Any]) -> ToolResult:
        args = parse_arguments(SearchArgs, arguments)
        if isinstance(args, ToolResult):
            return args
        query = SearchQuery(
            text=args.query,
            max_results=args.max_results,
            region=args.region,
            safesearch=args.safesearch,
            timelimit=args.timelimit,
        )
        started = self._clock()
        try:
            hits = await self._web.search(query)
        except SearchLimited as limited:
            wait = limited.retry_after or 0.0
            self._log.info(
                "mcp.search.limited",
                extra={"fields": {"per_minute": limited.per_minute, "wait": round(wait, 1)}},
            )
            return ToolResult.error(f"{limited.message} Retry in {math.ceil(wait)} seconds.")
        except SearchFailure as failure:
            # The operator's business (a SearXNG down or misconfigured, no route to the
            # engines) is a warning; what the model can deal with is not.
            level = logging.WARNING if failure.kind in _OPERATORS else logging.INFO
            self._log.log(
                level,
                "mcp.search.failed",
                extra={
                    "fields": {
                        "backend": self._web.search_backend,
                        "kind": failure.kind.value,
                        "seconds": round(self._clock() - started, 3),
                        "detail": failure.message,
                    }
                },
            )
            return ToolResult.error(advice(failure, query.text))
        self._log.info(
            "mcp.search.done",
            extra={
                "fields": {
                    "backend": self._web.search_backend,
                    "results": len(hits),
                    "seconds": round(self._clock() - started, 3),
                }
            },
        )
        return ToolResult(render_hits(query.text, hits, source=self._web.search_backend))


def advice(failure: SearchFailure, query: str) -> str:
    """The failure as the model reads it: what happened, then what to do."""
    match failure.kind:
        case FailureKind.RATE_LIMITED:
            wait = (
                _DEFAULT_RATE_LIMIT_WAIT
                if failure.retry_after is None
                else max(1, math.ceil(failure.retry_after))
            )
            return f"Rate limited: {failure.message} Retry in {wait} seconds."
        case FailureKind.NO_RESULTS:
            return (
                f"No results for {one_line(query)!r}. {failure.message} Try other or fewer "
                "words, or drop region and timelimit; if results were expected, retry in a "
                "minute."
            )
        case FailureKind.TIMEOUT:
            return f"{failure.message} Retry in a few seconds."
        case FailureKind.UNAVAILABLE | FailureKind.UPSTREAM:
            return (
                f"Search failed: {failure.message} Retry in a minute; if it keeps failing, "
                "tell the user the search backend needs attention."
            )
