"""A self-hosted SearXNG instance as a search backend, through its JSON API.

``GET {searxng_url}/search?q=…&format=json``: SearXNG answers 403 when ``json`` is not in its
``search.formats`` (the shipped default is html only), 429 when its limiter refuses us, and
otherwise a JSON object whose ``results`` hold ``url``, ``title`` and ``content``. Engines
that failed are listed in ``unresponsive_engines`` as ``[name, message]`` pairs; when they
left us with nothing, their messages say whether that was a rate limit (``Too many
requests``, ``CAPTCHA``, ``Access denied``) or something else. :func:`parse_answer` is a
pure function of the body, so any bytes can be thrown at it (tests/web/search fuzzes it).
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from autosred.web.search.backend import (
    FailureKind,
    SearchFailure,
    SearchHit,
    SearchQuery,
    usable_hits,
)

MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""A page of SearXNG results is tens of kilobytes; anything past this is not one."""

_SAFESEARCH = {"off": "0", "moderate": "1", "on": "2"}
_TIME_RANGE = {"d": "day", "w": "week", "m": "month", "y": "year"}
# SearXNG's own labels for an engine that refused it (searx/webapp.py, translated into the
# instance's UI language; these are the English ones).
_REFUSED = re.compile(r"too many requests|captcha|access denied", re.IGNORECASE)


def query_params(query: SearchQuery) -> dict[str, str]:
    """The query string SearXNG's ``/search`` reads, from the backend-neutral query."""
    params = {
        "q": query.text,
        "format": "json",
        "pageno": "1",
        "safesearch": _SAFESEARCH[query.safesearch],
    }
    if language := _language(query.region):
        params["language"] = language
    if query.timelimit:
        params["time_range"] = _TIME_RANGE[query.timelimit]
    return params


def _language(region: str | None) -> str | None:
    """ddgs's ``country-language`` (``us-en``) as SearXNG's locale (``en-US``); ``wt-wt``
    (no region) as ``all``; None leaves the instance's default."""
    if region is None:
        return None
    country, _, language = region.partition("-")
    if country == "wt":
        return "all"
    return f"{language}-{country.upper()}"


def parse_answer(body: bytes) -> list[SearchHit]:
    """The hits in a SearXNG JSON answer, in its order; SearchFailure when there are none
    (NO_RESULTS, RATE_LIMITED or UPSTREAM by what the answer says) or when the body is not
    SearXNG's JSON."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        raise SearchFailure(
            FailureKind.UPSTREAM,
            "SearXNG answered something that is not JSON; check that mcp.search.searxng_url "
            "points at a SearXNG instance.",
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
        raise SearchFailure(
            FailureKind.UPSTREAM,
            "SearXNG's answer has no results list; check that mcp.search.searxng_url points "
            "at a SearXNG instance.",
        )
    hits = [hit for item in answer["results"] if (hit := _hit(item)) is not None]
    if hits:
        return hits
    raise _nothing_found(answer)


def _hit(item: object) -> SearchHit | None:
    if not isinstance(item, dict):
        return None
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        return None
    title = item.get("title")
    content = item.get("content")
    return SearchHit(
        title=title if isinstance(title, str) else "",
        url=url,
        snippet=content if isinstance(content, str) else "",
    )


def _nothing_found(answer: Mapping[str, Any]) -> SearchFailure:
    failed = _unresponsive(answer.get("unresponsive_engines"))
    refused = [f"{name} ({why})" for name, why in failed if _REFUSED.search(why)]
    if refused:
        return SearchFailure(
            FailureKind.RATE_LIMITED,
            "SearXNG's engines refused the search: " + ", ".join(refused) + ".",
        )
    if failed:
        named = ", ".join(f"{name} ({why})" for name, why in failed)
        return SearchFailure(FailureKind.UPSTREAM, f"SearXNG's engines failed: {named}.")
    hints = [
        text
        for key in ("corrections", "suggestions")
        if isinstance(answer.get(key), list)
        for text in answer[key]
        if isinstance(text, str) and text.strip()
    ]
    message = "SearXNG found no results."
    if hints:
        message += " It suggests: " + "; ".join(hints[:5]) + "."
    return SearchFailure(FailureKind.NO_RESULTS, message)


def _unresponsive(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    pairs = []
    for entry in value:
        if isinstance(entry, list) and len(entry) >= 2:
            name, why = entry[0], entry[1]
            if isinstance(name, str) and isinstance(why, str):
                pairs.append((name, why))
    return pairs


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class SearxngBackend:
    """Searches through one SearXNG instance; one pooled HTTP session, opened on first use."""

    name = "searxng"

    def __init__(self, base_url: str, *, timeout: float, ca_file: str | None = None) -> None:
        self._endpoint = base_url.rstrip("/") + "/search"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ca_file = ca_file
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: ssl.SSLContext | bool = True
            if self._ca_file:
                tls = ssl.create_default_context(cafile=self._ca_file)
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(ssl=tls)
            )
        return self._session

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        try:
            async with self._client().get(
                self._endpoint,
                params=query_params(query),
                headers={"Accept": "application/json"},
            ) as response:
                body = await _read_capped(response)
                status, retry_after = response.status, response.headers.get("Retry-After")
        except TimeoutError:  # aiohttp's timeouts are TimeoutError subclasses
            raise SearchFailure(
                FailureKind.TIMEOUT, "SearXNG did not answer within mcp.search.timeout."
            ) from None
        except aiohttp.ClientError as exc:
            raise SearchFailure(
                FailureKind.UNAVAILABLE,
                f"SearXNG at {self._endpoint} could not be reached ({type(exc).__name__}).",
            ) from None
        if status == 429:
            raise SearchFailure(
                FailureKind.RATE_LIMITED,
                "SearXNG's limiter refused the search (HTTP 429).",
                retry_after=retry_after_seconds(retry_after),
            )
        if status == 403:
            raise SearchFailure(
                FailureKind.UPSTREAM,
                "SearXNG refused its JSON API (HTTP 403): its settings.yml must list json "
                "under search.formats.",
            )
        if status != 200:
            raise SearchFailure(FailureKind.UPSTREAM, f"SearXNG answered HTTP {status}.")
        hits = usable_hits(parse_answer(body), query.max_results)
        if not hits:
            raise SearchFailure(
                FailureKind.NO_RESULTS, "SearXNG found no results with a web address."
            )
        return hits

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise SearchFailure(
                FailureKind.UPSTREAM,
                f"SearXNG's answer is larger than {MAX_ANSWER_BYTES} bytes; not a result page.",
            )
        chunks.append(chunk)
    return b"".join(chunks)
