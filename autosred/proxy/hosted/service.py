"""The daemon's one ``WebService`` (autosred/web) as the hosted tools use it (``HostedWeb``).

Its failures become the hosted tools' own kinds (web.py): a search that found nothing is an
empty result list, not a failure; the daemon's search limit and an engine's 429 are
``rate_limited`` (``too_many_requests``); the fetch engine's kinds map one to one. A fetch
follows redirects only to hosts the tool's domain lists allow.
"""

from __future__ import annotations

from collections.abc import Callable

from autosred.config import Settings
from autosred.proxy.hosted.tools import HostedKind, HostedTools
from autosred.proxy.hosted.web import WebFailure, WebFailureKind, WebHit, WebPage
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind
from autosred.web.search.backend import FailureKind, SearchFailure, SearchQuery
from autosred.web.service import WebService

_SEARCH_KINDS: dict[FailureKind, WebFailureKind] = {
    FailureKind.RATE_LIMITED: "rate_limited",
    FailureKind.TIMEOUT: "unavailable",
    FailureKind.UNAVAILABLE: "unavailable",
    FailureKind.UPSTREAM: "unavailable",
}
_FETCH_KINDS: dict[FetchFailureKind, WebFailureKind] = {
    FetchFailureKind.INVALID_URL: "invalid",
    FetchFailureKind.URL_NOT_ALLOWED: "not_allowed",
    FetchFailureKind.URL_NOT_ACCESSIBLE: "not_accessible",
    FetchFailureKind.UNAVAILABLE: "unavailable",
    FetchFailureKind.TOO_LARGE: "too_large",
    FetchFailureKind.UNSUPPORTED_CONTENT_TYPE: "unsupported",
    FetchFailureKind.TIMEOUT: "not_accessible",
}
# ddgs regions are country-language; SearXNG takes the language part. The languages of the
# countries users name most; others search without a region.
_REGIONS = {
    "US": "us-en", "GB": "uk-en", "CA": "ca-en", "AU": "au-en", "IE": "ie-en", "IN": "in-en",
    "NZ": "nz-en", "DE": "de-de", "AT": "at-de", "CH": "ch-de", "FR": "fr-fr", "BE": "be-fr",
    "ES": "es-es", "MX": "mx-es", "AR": "ar-es", "IT": "it-it", "NL": "nl-nl", "PT": "pt-pt",
    "BR": "br-pt", "PL": "pl-pl", "SE": "se-sv", "NO": "no-no", "DK": "dk-da", "FI": "fi-fi",
    "JP": "jp-jp", "KR": "kr-kr", "CN": "cn-zh", "TW": "tw-tzh", "RU": "ru-ru", "UA": "ua-uk",
    "TR": "tr-tr",
}  # fmt: skip


def region_of(country: str | None) -> str | None:
    """The search region for ``user_location.country`` (two letters), when known."""
    return _REGIONS.get(country.strip().upper()) if country else None


class ServiceWeb:
    """``HostedWeb`` over the daemon's ``WebService``."""

    def __init__(self, service: WebService) -> None:
        self._service = service

    async def search(self, query: str, *, max_results: int, country: str | None) -> list[WebHit]:
        request = SearchQuery(text=query, max_results=max_results, region=region_of(country))
        try:
            hits = await self._service.search(request)
        except SearchFailure as exc:
            if exc.kind is FailureKind.NO_RESULTS:
                return []
            raise WebFailure(_SEARCH_KINDS.get(exc.kind, "unavailable"), exc.message) from None
        return [WebHit(hit.title, hit.url, hit.snippet) for hit in hits]

    async def fetch(
        self, url: str, *, host_allowed: Callable[[str], bool] | None = None
    ) -> WebPage:
        try:
            page = await self._service.fetch(url, host_allowed=host_allowed)
        except FetchFailure as exc:
            raise WebFailure(_FETCH_KINDS.get(exc.kind, "unavailable"), str(exc)) from None
        return WebPage(page.url, page.text, page.title, page.media_type or "text/plain")


def hosted_tools_of(settings: Settings, service: WebService | None) -> HostedTools | None:
    """The hosted tools ``settings.hosted_tools`` turns on, over the daemon's ``service``;
    None when none runs (they are then removed from requests like other server tools)."""
    if service is None:
        return None
    kinds: set[HostedKind] = set()
    if settings.hosted_web_search_enabled() and service.searches:
        kinds.add("web_search")
    if settings.hosted_web_fetch_enabled() and service.fetches:
        kinds.add("web_fetch")
    if not kinds:
        return None
    hosted = settings.hosted_tools
    return HostedTools(
        ServiceWeb(service),
        frozenset(kinds),
        caps={"web_search": hosted.web_search.max_uses, "web_fetch": hosted.web_fetch.max_uses},
    )
