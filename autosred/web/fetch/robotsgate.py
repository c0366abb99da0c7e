"""robots.txt for the pages a model asks for: fetched through the same guarded client,
read by RFC 9309's rules, kept per origin for a few minutes.

What the site's answer means (RFC 9309 2.3.1, with the issue's reading of 401/403):
2xx parsed; 401/403 the site refuses us; other 4xx no robots.txt (all allowed); 5xx or
unreachable the site may not be crawled now (refused: RFC 9309 says assume complete
disallow); a redirect chain past five hops counts as no robots.txt.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from autosred.web.fetch.client import FetchFailed, HttpClient, TooManyRedirects
from autosred.web.fetch.failure import FetchFailureKind
from autosred.web.fetch.guard import Refused
from autosred.web.fetch.robots import MAX_ROBOTS_BYTES, Robots
from autosred.web.fetch.urls import Target, parse_target

PRODUCT_TOKEN = "autosred"
CACHE_SECONDS = 300.0
REFUSAL_SECONDS = 60.0
"""A robots.txt that could not be read refuses its site for this long only (a site that
was down a moment ago may answer on the model's next try)."""
CACHE_ORIGINS = 256
ROBOTS_REDIRECTS = 5


@dataclass(frozen=True)
class _Verdict:
    robots: Robots | None
    """None: the site is refused whole, for ``why``."""
    why: str
    expires: float
    kind: FetchFailureKind = FetchFailureKind.URL_NOT_ALLOWED
    """What a refusal of the whole site is: not allowed (the site refuses us, or robots.txt
    sits behind a refused address), or unavailable (robots.txt could not be read now)."""


class RobotsGate:
    """Answers "may the model fetch this URL?" for one fetcher (its own cache)."""

    def __init__(self, client: HttpClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._cache: OrderedDict[str, _Verdict] = OrderedDict()

    async def check(self, target: Target, *, deadline: float) -> None:
        """Nothing when robots.txt allows ``target``; :class:`FetchFailed` saying why not."""
        verdict = await self._verdict(target, deadline=deadline)
        if verdict.robots is None:
            raise FetchFailed(
                f"{target.url} was not fetched: {verdict.why}, and robots.txt rules say "
                "to assume the whole site is off limits then. Try again later or use "
                "another source.",
                kind=verdict.kind,
            )
        if not verdict.robots.allows(PRODUCT_TOKEN, target.path):
            raise FetchFailed(
                f"{target.origin}/robots.txt disallows {target.url} for automated clients; "
                "use another source.",
                kind=FetchFailureKind.URL_NOT_ALLOWED,
            )

    async def _verdict(self, target: Target, *, deadline: float) -> _Verdict:
        now = self._clock()
        cached = self._cache.get(target.origin)
        if cached is not None and cached.expires > now:
            self._cache.move_to_end(target.origin)
            return cached
        verdict = await self._fetch(target, deadline=deadline)
        self._cache[target.origin] = verdict
        self._cache.move_to_end(target.origin)
        while len(self._cache) > CACHE_ORIGINS:
            self._cache.popitem(last=False)
        return verdict

    async def _fetch(self, target: Target, *, deadline: float) -> _Verdict:
        verdict = await self._read(target, deadline=deadline)
        kept = CACHE_SECONDS if verdict.robots is not None else REFUSAL_SECONDS
        return _Verdict(verdict.robots, verdict.why, self._clock() + kept, verdict.kind)

    async def _read(self, target: Target, *, deadline: float) -> _Verdict:
        expires = 0.0  # set by _fetch
        robots_url = parse_target(f"{target.origin}/robots.txt")
        try:
            fetched = await self._client.get(
                robots_url,
                deadline=deadline,
                max_bytes=MAX_ROBOTS_BYTES,
                max_redirects=ROBOTS_REDIRECTS,
                accept_status=True,
                truncate=True,
            )
        except Refused as exc:
            return _Verdict(None, f"its robots.txt could not be checked ({exc})", expires, exc.kind)
        except TooManyRedirects:
            return _Verdict(Robots.allow_all(), "", expires)
        except FetchFailed as exc:
            return _Verdict(
                None,
                f"its robots.txt could not be read ({exc})",
                expires,
                FetchFailureKind.UNAVAILABLE,
            )
        status = fetched.status
        if 200 <= status < 300:
            return _Verdict(Robots.parse(fetched.body.decode("utf-8", "replace")), "", expires)
        if status in (401, 403):
            return _Verdict(None, f"its robots.txt answered {status}", expires)
        if 400 <= status < 500:
            return _Verdict(Robots.allow_all(), "", expires)
        return _Verdict(
            None, f"its robots.txt answered {status}", expires, FetchFailureKind.UNAVAILABLE
        )
