"""One request's hosted tool calls: checked, counted against ``max_uses``, run, and reported.

``HostedRun`` is created per request with the hosted tools the client asked for and the web
service. The model calls a tool with JSON arguments; ``execute`` answers a ``ToolResult``: the
hits of a search (filtered by the tool's domain lists), the text of a fetched page (cut to the
tool's ``max_content_tokens``), or a ``ToolFailed`` whose ``code`` is the vendor's error code
(``max_uses_exceeded``, ``too_many_requests``, ``invalid_tool_input``, ``url_not_allowed`` …),
which every surface can show as it is. A failure never raises: the model reads it and goes on.

A fetch reads only a URL that the conversation or an earlier result of this request named
(``url_not_in_prior_context`` otherwise): a page the model read cannot make it fetch an
address it made up to carry data out (Anthropic's rule for its own web fetch).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import get_args
from urllib.parse import urlsplit

from autosred.metrics import HostedOutcome, HostedSurface, Metrics
from autosred.proxy.hosted.memory import SearchMemory, query_key
from autosred.proxy.hosted.tools import (
    MAX_QUERY_CHARS,
    MAX_URL_CHARS,
    HostedKind,
    HostedTool,
    host_allowed,
)
from autosred.proxy.hosted.web import HostedWeb, WebFailure, WebHit, WebPage

SEARCH_RESULTS = 10
"""Hits asked of the search backend per query (before the domain lists filter them)."""

_OUTCOMES: dict[str, HostedOutcome] = {
    "invalid_tool_input": "invalid_input",
    "url_not_in_prior_context": "url_not_allowed",
    "content_too_large": "url_not_accessible",
}
"""Codes the metric's outcome label names otherwise (metrics.py's ``HostedOutcome``)."""

_SEARCH_CODES = {
    "rate_limited": "too_many_requests",
    "invalid": "invalid_tool_input",
}
_FETCH_CODES = {
    "rate_limited": "too_many_requests",
    "invalid": "invalid_tool_input",
    "not_allowed": "url_not_allowed",
    "not_accessible": "url_not_accessible",
    "unsupported": "unsupported_content_type",
    "too_large": "content_too_large",
}


@dataclass(frozen=True, slots=True)
class SearchDone:
    query: str
    hits: tuple[WebHit, ...]


@dataclass(frozen=True, slots=True)
class FetchDone:
    url: str
    page: WebPage
    text: str
    """The page text the model reads (cut to the tool's ``max_content_tokens``)."""
    retrieved_at: str
    """ISO 8601, UTC."""


@dataclass(frozen=True, slots=True)
class ToolFailed:
    code: str
    message: str


ToolResult = SearchDone | FetchDone | ToolFailed


_HINTS = {
    "max_uses_exceeded": "this tool may not be used again in this answer",
    "too_many_requests": "too many searches just now; answer with what you have",
    "invalid_tool_input": "the arguments were not valid",
    "query_too_long": f"the query is over {MAX_QUERY_CHARS} characters",
    "url_too_long": f"the URL is over {MAX_URL_CHARS} characters",
    "url_not_allowed": "this address may not be fetched",
    "url_not_in_prior_context": "only a URL from the conversation or a result can be fetched",
    "url_not_accessible": "the page could not be read",
    "unsupported_content_type": "the page is not text",
    "content_too_large": "the page is too large",
    "unavailable": "the tool is not available right now",
    "no_cached_results": "live web access is off and no earlier search matched this one",
}


def failure_text(code: str) -> str:
    """What the model reads for a failed call: the code and what it means. Only the code,
    never the backend's message, so the history a client sends back renders the same."""
    hint = _HINTS.get(code)
    return f"Error: {code}" + (f" ({hint})" if hint else "")


def search_text(query: str | None, hits: Iterable[tuple[WebHit, str]]) -> str:
    """What the model reads for a search: each hit's title, URL, age and snippet (given
    apart, since the history brings the snippet back sealed)."""
    lines: list[str] = [f"Web search results for: {query}"] if query is not None else []
    count = 0
    for number, (hit, snippet) in enumerate(hits, 1):
        count = number
        lines.append(f"\n{number}. {hit.title}\nURL: {hit.url}")
        if hit.page_age:
            lines.append(f"Age: {hit.page_age}")
        if snippet:
            lines.append(snippet)
    if not count:
        lines.append("No results.")
    return "\n".join(lines)


def fetch_text(url: str, title: str | None, text: str) -> str:
    head = f"Fetched {url}" + (f"\nTitle: {title}" if title else "")
    return f"{head}\n\n{text}"


class HostedRun:
    """The hosted tools of one request and what they did so far."""

    def __init__(
        self,
        tools: Iterable[HostedTool],
        web: HostedWeb,
        *,
        log: logging.Logger,
        prior_context: str = "",
        caps: Mapping[HostedKind, int | None] | None = None,
        request_id: str = "-",
        metrics: Metrics | None = None,
        surface: HostedSurface = "anthropic",
        client: str = "-",
        memory: SearchMemory | None = None,
    ) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self._web = web
        self._log = log
        self._context = prior_context
        self._seen_urls: set[str] = set()
        self._caps = dict(caps or {})
        self._used: dict[str, int] = {}
        self._request_id = request_id
        self._metrics = metrics
        self._surface: HostedSurface = surface
        self._client = client
        self._memory = memory
        """Live searches' hits are kept there; an offline search (``live`` off) reads it."""
        self.requests: dict[HostedKind, int] = {"web_search": 0, "web_fetch": 0}
        """Calls that reached the web (what ``usage.server_tool_use`` reports)."""

    def budget(self, name: str) -> int | None:
        """Calls ``name`` may still make in this request (None: no limit)."""
        tool = self.tools[name]
        limits = [n for n in (tool.max_uses, self._caps.get(tool.kind)) if n is not None]
        return None if not limits else max(0, min(limits) - self._used.get(name, 0))

    def exhausted(self) -> bool:
        """Whether no hosted tool can be used again in this request."""
        return all(self.budget(name) == 0 for name in self.tools)

    async def execute(self, name: str, arguments: str) -> ToolResult:
        """Run the model's call of ``name`` with its JSON ``arguments``."""
        tool = self.tools[name]
        started = time.perf_counter()
        outcome = "cancelled"  # the request ended while the tool ran
        try:
            result = await self._execute(tool, arguments)
            outcome = result.code if isinstance(result, ToolFailed) else "ok"
            return result
        finally:
            self._record(tool, outcome, time.perf_counter() - started)

    def _record(self, tool: HostedTool, outcome: str, seconds: float) -> None:
        self._log.info(
            "hosted.call",
            extra={
                "fields": {
                    "request_id": self._request_id,
                    "tool": tool.kind,
                    "outcome": outcome,
                    "ms": round(seconds * 1000, 1),
                }
            },
        )
        if self._metrics is not None:
            label: HostedOutcome = _OUTCOMES.get(outcome) or _known_outcome(outcome)
            self._metrics.record_hosted_tool_call(
                surface=self._surface,
                client=self._client,
                tool=tool.kind,
                outcome=label,
                seconds=seconds,
            )

    async def _execute(self, tool: HostedTool, arguments: str) -> ToolResult:
        budget = self.budget(tool.name)
        if budget == 0:
            return ToolFailed("max_uses_exceeded", f"{tool.name} may be used no more here")
        key = "query" if tool.kind == "web_search" else "url"
        value = _argument(arguments, key)
        if value is None:
            return ToolFailed("invalid_tool_input", f'expected {{"{key}": "…"}}')
        self._used[tool.name] = self._used.get(tool.name, 0) + 1
        if tool.kind == "web_search":
            return await self._search(tool, value)
        return await self._fetch(tool, value)

    async def _search(self, tool: HostedTool, query: str) -> ToolResult:
        if len(query) > MAX_QUERY_CHARS:
            return ToolFailed("query_too_long", f"at most {MAX_QUERY_CHARS} characters")
        key = query_key(self._client, tool.country, query)
        if not tool.live:
            remembered = self._memory.hits(key) if self._memory is not None else None
            if remembered is None:
                return ToolFailed("no_cached_results", "no earlier search matched")
            hits = list(remembered)
        else:
            self.requests["web_search"] += 1
            try:
                hits = await self._web.search(
                    query, max_results=SEARCH_RESULTS, country=tool.country
                )
            except WebFailure as exc:
                return ToolFailed(_SEARCH_CODES.get(exc.kind, "unavailable"), exc.message)
            if self._memory is not None:
                self._memory.keep_hits(key, tuple(hits))
        kept = tuple(hit for hit in hits if host_allowed(_host(hit.url), tool))
        self._seen_urls.update(hit.url for hit in kept)
        return SearchDone(query, kept)

    async def _fetch(self, tool: HostedTool, url: str) -> ToolResult:
        if len(url) > MAX_URL_CHARS:
            return ToolFailed("url_too_long", f"at most {MAX_URL_CHARS} characters")
        host = _host(url)
        if not host or urlsplit(url).scheme.lower() not in ("http", "https"):
            return ToolFailed("invalid_tool_input", "not an http(s) URL")
        if not host_allowed(host, tool):
            return ToolFailed("url_not_allowed", f"{host} is not allowed by the tool's domains")
        if url not in self._seen_urls and url not in self._context:
            return ToolFailed(
                "url_not_in_prior_context",
                "only a URL the conversation or an earlier result named can be fetched",
            )
        self.requests["web_fetch"] += 1
        try:
            page = await self._web.fetch(url, host_allowed=lambda name: host_allowed(name, tool))
        except WebFailure as exc:
            return ToolFailed(_FETCH_CODES.get(exc.kind, "unavailable"), exc.message)
        if not host_allowed(_host(page.url), tool):  # redirected out of the allowed domains
            return ToolFailed("url_not_allowed", f"{page.url} is not allowed by the tool's domains")
        self._seen_urls.add(page.url)
        text = page.text[: tool.content_chars]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return FetchDone(url, page, text, stamp)


def _known_outcome(outcome: str) -> HostedOutcome:
    for known in get_args(HostedOutcome):
        if known == outcome:
            return known  # type: ignore[no-any-return]
    return "unavailable"


def _argument(arguments: str, key: str) -> str | None:
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    found = value.get(key)
    return found.strip() if isinstance(found, str) and found.strip() else None


def _host(url: str) -> str:
    try:
        return urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
