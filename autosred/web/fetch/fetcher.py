"""One fetch, start to end: the URL parsed, every hop admitted by the guard and robots.txt,
one GET per hop, the body classified and decoded, HTML made Markdown in a worker process.

:class:`Fetcher` owns what lives across fetches (curl's multi handle and its connection
cache, the robots.txt cache, the extraction workers) and answers a :class:`FetchedPage` or
raises a :class:`~autosred.web.fetch.failure.FetchFailure`, whose sentence the model can act
on and whose kind a caller can map. It cuts nothing: paging through the text (the MCP tool)
or cutting it to a token budget (the hosted tool) is the caller's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass
from datetime import UTC, datetime

from autosred.config import FetchSettings
from autosred.web.fetch.addresses import AddressPolicy
from autosred.web.fetch.client import Fetched, FetchFailed, HopCheck, HttpClient
from autosred.web.fetch.content import Kind, MediaType, decode, kind_of, title_of
from autosred.web.fetch.failure import FetchFailureKind
from autosred.web.fetch.guard import Guard, Refused, Resolver, system_resolver
from autosred.web.fetch.robotsgate import RobotsGate
from autosred.web.fetch.urls import Target, parse_target
from autosred.web.fetch.worker import Extractor

HostCheck = Callable[[str], bool]
"""A caller's own rule for a host name (the hosted tool's allowed and blocked domains):
True to let a hop to that host be fetched."""

_BACKSTOP = 1.0
"""Seconds past ``mcp.fetch.timeout`` the whole fetch may take before it is cut (curl's own
per-hop timeout normally ends it first; this bounds what curl does not time)."""


@dataclass(frozen=True)
class FetchedPage:
    """What one fetch produced."""

    url: str
    """Where the text came from: the last hop, after redirects."""
    text: str
    """HTML's main text as Markdown; JSON, other text (and HTML with ``raw``) as decoded."""
    media_type: str
    """The body's type as the server sent it (``text/html``), lower case, no parameters;
    "" when the server sent none."""
    kind: Kind
    """HTML, JSON or text (sniffed when the server sent no type)."""
    markdown: bool
    """Whether ``text`` is Markdown extracted from HTML (not the body as sent)."""
    title: str | None
    """The HTML page's ``<title>``; None for other kinds or a page without one."""
    retrieved_at: datetime
    """When the body was read (UTC)."""


class Fetcher:
    """Fetches for the daemon (one per :class:`~autosred.web.service.WebService`).
    ``resolver`` and ``executor`` are seams for tests and the benchmark (the system resolver
    and a process pool of the fetcher's own otherwise)."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        resolver: Resolver = system_resolver,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        guard = Guard(AddressPolicy.from_allow(settings.allow), resolver)
        self._client = HttpClient(settings, guard)
        self._robots = RobotsGate(self._client)
        self._extractor = Extractor(executor)

    async def fetch(
        self, url: str, *, raw: bool = False, host_allowed: HostCheck | None = None
    ) -> FetchedPage:
        """The page at ``url``; ``raw``: HTML as sent instead of Markdown; ``host_allowed``:
        the caller's own rule, applied to the URL's host and to every redirect hop's before
        its request (``url_not_allowed`` when it says no). Raises :class:`FetchFailure`."""
        target = parse_target(url)
        settings = self.settings
        started = time.monotonic()
        deadline = started + settings.timeout
        try:
            # curl's own timeout (the time left, per hop) ends a slow transfer cleanly; this
            # one is the backstop for what curl does not time (the resolver, robots.txt).
            async with asyncio.timeout(settings.timeout + _BACKSTOP):
                fetched = await self._client.get(
                    target,
                    deadline=deadline,
                    max_bytes=settings.max_bytes,
                    max_redirects=settings.max_redirects,
                    check=self._hop_check(deadline, host_allowed),
                )
        except TimeoutError:
            raise FetchFailed(
                f"Fetching {target.url} took longer than {settings.timeout:g} s; the "
                "site is slow or not answering. Try again later or use another source.",
                kind=FetchFailureKind.TIMEOUT,
            ) from None
        retrieved_at = datetime.now(UTC)
        return await self._page(fetched, raw=raw, retrieved_at=retrieved_at)

    def _hop_check(self, deadline: float, host_allowed: HostCheck | None) -> HopCheck | None:
        robots = self._robots if self.settings.robots else None
        if robots is None and host_allowed is None:
            return None

        async def check(target: Target) -> None:
            if host_allowed is not None and not host_allowed(target.host):
                raise Refused(
                    f"{target.url} is on a site this request may not fetch from (its allowed "
                    "or blocked domains); use a URL on an allowed site."
                )
            if robots is not None:
                await robots.check(target, deadline=deadline)

        return check

    async def _page(self, fetched: Fetched, *, raw: bool, retrieved_at: datetime) -> FetchedPage:
        media = MediaType.parse(fetched.content_type)
        kind = kind_of(media, fetched.body)
        text = decode(fetched.body, media, kind)
        url = fetched.target.url
        title = title_of(text) if kind is Kind.HTML else None
        markdown = kind is Kind.HTML and not raw
        if markdown:
            text = await self._markdown(text, url)
        return FetchedPage(
            url=url,
            text=text,
            media_type=media.essence,
            kind=kind,
            markdown=markdown,
            title=title,
            retrieved_at=retrieved_at,
        )

    async def _markdown(self, html: str, url: str) -> str:
        try:
            return await self._extractor.markdown(html, url)
        except BrokenExecutor:
            self._extractor.discard()
            raise FetchFailed(
                f"{url} was fetched but its HTML could not be converted (the extraction "
                "worker stopped); call again with raw=true to get the HTML.",
                kind=FetchFailureKind.UNAVAILABLE,
            ) from None

    async def warm(self) -> None:
        """Start the extraction workers now rather than on the first HTML page."""
        await self._extractor.warm()

    async def close(self) -> None:
        await self._client.close()
        await self._extractor.close()
