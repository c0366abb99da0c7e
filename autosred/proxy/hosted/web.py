"""The web as the hosted tools need it: a search and a fetch, and how each can fail.

The daemon hands the proxy one object with this shape (``HostedWeb``), built over its one
web service, which owns the search backend, the per-daemon search rate limit and the fetcher
with its address guard, so a hosted search and an MCP search share one limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

WebFailureKind = Literal[
    "rate_limited",  # the search limit or the engine refused: wait
    "unavailable",  # the backend could not answer (down, timeout, an error status)
    "not_allowed",  # the address guard or robots.txt refused the URL
    "not_accessible",  # the page could not be read (HTTP error, unreachable, redirect loop)
    "unsupported",  # a content type that is not text
    "too_large",  # the page is over the fetcher's size limit
    "invalid",  # not an http(s) URL, or a query the backend refuses
]


class WebFailure(Exception):
    """A search or fetch that gave nothing, and why (``message``: a sentence for logs)."""

    def __init__(self, kind: WebFailureKind, message: str) -> None:
        super().__init__(message)
        self.kind: WebFailureKind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class WebHit:
    title: str
    url: str
    snippet: str = ""
    page_age: str | None = None
    """How old the page is, as the engine said it (a date), when it did."""


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    """Where the page was read (after redirects)."""
    text: str
    """Its text: Markdown for HTML, the text itself otherwise."""
    title: str | None = None
    content_type: str = "text/plain"


class HostedWeb(Protocol):
    async def search(self, query: str, *, max_results: int, country: str | None) -> list[WebHit]:
        """At most ``max_results`` hits, best first (``[]``: nothing found); WebFailure."""
        ...

    async def fetch(
        self, url: str, *, host_allowed: Callable[[str], bool] | None = None
    ) -> WebPage:
        """The page at ``url`` through the address guard, redirects followed only to hosts
        ``host_allowed`` accepts; WebFailure."""
        ...
