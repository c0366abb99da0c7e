"""The ddgs metasearch library as a search backend (the default).

ddgs is synchronous (primp underneath, one thread per engine it asks), so each search runs
on this backend's own small thread pool, never on the event loop and never on the loop's
default executor that DNS lookups share. A thread cannot be cancelled: a search the model
gave up on (or the daemon's stop cancelled) runs on until ddgs's own per-request timeout,
which is set so that a whole search's threads end within ``mcp.search.timeout``. A fresh
``DDGS`` per search: its engine objects keep cookies and per-call state, so two searches
must not share one.

ddgs reports an engine that answered anything but 200 (a 429 or a CAPTCHA page included)
the same way as an engine that found nothing: "No results found." The failure sent to the
model for that case says both, so a rate-limited model waits before it rephrases.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ddgs import DDGS
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from autosred.web.search.backend import (
    FailureKind,
    SearchFailure,
    SearchHit,
    SearchQuery,
    usable_hits,
)

DEFAULT_REGION = "us-en"  # ddgs's own default; engines split it into country and language
_THREADS = 2  # concurrent searches; the per-minute limit keeps the queue short
_NO_RESULTS = "No results found."  # ddgs's message when every engine came back empty
_MAX_DETAIL = 200
_ALL = ("auto", "all")  # ddgs's names for "every engine it has"


class DdgsBackend:
    name = "ddgs"

    def __init__(
        self,
        engines: list[str],
        *,
        timeout: float,
        proxy: str | None = None,
        ca_file: str | None = None,
        log: logging.Logger,
    ) -> None:
        self._wanted = engines
        self._engines: str | None = None  # the known ones, checked on the first search
        self._engines_lock = threading.Lock()
        self._timeout = timeout
        # ddgs bounds each engine request, not the search; its wikipedia engine makes two in
        # a row. Half the search's time each keeps the threads within it, which matters at
        # stop: the interpreter waits for them (nothing can cancel a thread). Whole seconds,
        # as DDGS takes them.
        self._per_request = max(1, math.ceil(timeout / 2))
        self._proxy = proxy
        self._verify: bool | str = ca_file or True
        self._log = log
        self._pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="mcp-search")

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        loop = asyncio.get_running_loop()
        running = loop.run_in_executor(self._pool, self._search_blocking, query)
        try:
            # ddgs bounds each engine request by the same timeout; this bounds the whole.
            async with asyncio.timeout(self._timeout):
                found = await running
        except TimeoutError:
            raise _timed_out() from None
        hits = usable_hits(
            [
                SearchHit(
                    title=str(item.get("title") or ""),
                    url=str(item.get("href") or ""),
                    snippet=str(item.get("body") or ""),
                )
                for item in found
            ],
            query.max_results,
        )
        if not hits:
            raise SearchFailure(FailureKind.NO_RESULTS, "The search found no web pages.")
        return hits

    def _known_engines(self) -> str:
        """``mcp.search.ddgs_backends`` less the names this ddgs does not have (logged once).
        ddgs itself would drop them silently, and with none left ask every engine it has:
        queries would go where the operator did not send them."""
        with self._engines_lock:
            if self._engines is None:
                # Imported here, on a search thread: ddgs's engines (lxml and all) cost the
                # daemon's start-up 0.16 s otherwise.
                from ddgs.engines import ENGINES

                available = ENGINES["text"]
                unknown = [
                    name for name in self._wanted if name not in available and name not in _ALL
                ]
                if unknown:
                    self._log.warning(
                        "mcp.search.unknown_engines",
                        extra={"fields": {"unknown": unknown, "available": sorted(available)}},
                    )
                self._engines = ",".join(name for name in self._wanted if name not in unknown)
            if not self._engines:
                raise SearchFailure(
                    FailureKind.UNAVAILABLE,
                    "None of the engines in mcp.search.ddgs_backends exists in this ddgs.",
                )
            return self._engines

    def _search_blocking(self, query: SearchQuery) -> list[dict[str, Any]]:
        engines = self._known_engines()
        client = DDGS(proxy=self._proxy, timeout=self._per_request, verify=self._verify)
        try:
            return client.text(
                query.text,
                region=query.region or DEFAULT_REGION,
                safesearch=query.safesearch,
                timelimit=query.timelimit,
                max_results=query.max_results,
                backend=engines,
            )
        except RatelimitException as exc:
            raise SearchFailure(
                FailureKind.RATE_LIMITED, f"The search engine refused us: {self._detail(exc)}."
            ) from None
        except TimeoutException:
            raise _timed_out() from None
        except DDGSException as exc:
            # ddgs re-raises the last engine's failure wrapped in a DDGSException; a timeout
            # stays one only when its text says "timed out", which primp's need not.
            if exc.args and isinstance(exc.args[0], TimeoutException):
                raise _timed_out() from None
            if str(exc) == _NO_RESULTS:
                raise SearchFailure(
                    FailureKind.NO_RESULTS,
                    f"The search engines ({engines}) returned nothing; an engine that is "
                    "refusing us for asking too often answers the same way.",
                ) from None
            raise SearchFailure(
                FailureKind.UNAVAILABLE,
                f"The search engines could not be asked: {self._detail(exc)}.",
            ) from None
        except Exception as exc:
            # A third-party library's own bug (a parser tripping on a changed page): the model
            # gets a failure it can act on, the log gets the details.
            self._log.warning(
                "mcp.search.backend_error",
                extra={"fields": {"backend": self.name, "error": repr(exc)[:_MAX_DETAIL]}},
            )
            raise SearchFailure(
                FailureKind.UPSTREAM, f"The search failed inside ddgs ({type(exc).__name__})."
            ) from None

    def _detail(self, exc: BaseException) -> str:
        """ddgs's message, one line, short, and without the proxy's credentials (primp's
        errors quote the proxy URL; this text goes to the model and the log)."""
        text = redact_proxy(" ".join(str(exc).split()), self._proxy)
        return text[:_MAX_DETAIL] or type(exc).__name__

    async def aclose(self) -> None:
        # Searches still running finish on their own (primp's timeout bounds them); nothing
        # waits for them here.
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed_out() -> SearchFailure:
    return SearchFailure(
        FailureKind.TIMEOUT, "The search engines did not answer within mcp.search.timeout."
    )


def redact_proxy(text: str, proxy: str | None) -> str:
    """``text`` with the proxy URL's user and password taken out wherever it is quoted."""
    if not proxy:
        return text
    scheme, sep, rest = proxy.partition("://")
    userinfo, at, host = rest.partition("@")
    if not at:
        return text
    return text.replace(proxy, f"{scheme}{sep}{host}").replace(userinfo, "***")
