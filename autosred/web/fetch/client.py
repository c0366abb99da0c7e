"""GET through curl_cffi with a browser's TLS and HTTP/2 fingerprint, one hop at a time.

curl follows no redirect itself: each ``Location`` is parsed, checked by the guard and
pinned like the first URL. The body is read as a stream and given up as soon as it passes
the byte cap (a ``Content-Length`` above it is refused before any of the body is read).

The session trusts no proxy from the environment (``http_proxy`` …): through a proxy the
proxy would resolve the name, and the guard's checked address would mean nothing. It keeps
no cookies, so what one client's fetch was given never reaches another's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from curl_cffi import AsyncCurl, CurlOpt
from curl_cffi.requests import AsyncSession
from curl_cffi.requests import exceptions as curl_errors

from autosred.config import FetchSettings
from autosred.web.fetch.failure import FetchFailure, FetchFailureKind
from autosred.web.fetch.guard import Admitted, Guard, Refused
from autosred.web.fetch.urls import BadUrl, Target, resolve_location

REDIRECTS = frozenset({301, 302, 303, 307, 308})

HopCheck = Callable[[Target], Awaitable[None]]
"""Called for every hop the guard admitted, before its request (the robots.txt check);
raises :class:`FetchFailed` to stop the fetch."""


class FetchFailed(FetchFailure):
    """A fetch that did not produce a body; the message is a sentence for the model."""


class TooManyRedirects(FetchFailed):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind=FetchFailureKind.URL_NOT_ACCESSIBLE)


@dataclass(frozen=True)
class Fetched:
    target: Target
    """Where the body came from (the last hop)."""
    status: int
    reason: str
    content_type: str | None
    body: bytes
    hops: int


class HttpClient:
    """One curl multi handle for the tool group's life (its connection cache is shared by
    every fetch), created on first use because it binds to the running loop. Each hop is a
    small session on it: curl_cffi takes ``CURLOPT_RESOLVE`` (the pin) per session only."""

    def __init__(self, settings: FetchSettings, guard: Guard) -> None:
        self._settings = settings
        self._guard = guard
        self._curl: AsyncCurl | None = None

    def _session(self, admitted: Admitted) -> AsyncSession[Any]:
        if self._curl is None:
            self._curl = AsyncCurl(loop=asyncio.get_running_loop())
        options: dict[CurlOpt, Any] = {CurlOpt.PROTOCOLS_STR: "http,https"}
        if admitted.pin:
            options[CurlOpt.RESOLVE] = admitted.pin
        verify: Any = self._settings.ca_bundle or True
        return AsyncSession(
            async_curl=self._curl,
            max_clients=1,
            impersonate=self._settings.impersonate,
            trust_env=False,
            discard_cookies=True,
            verify=verify,
            curl_options=options,
        )

    async def close(self) -> None:
        if self._curl is not None:
            await self._curl.close()  # type: ignore[no-untyped-call]
            self._curl = None

    async def get(
        self,
        target: Target,
        *,
        deadline: float,
        max_bytes: int,
        max_redirects: int,
        check: HopCheck | None = None,
        accept_status: bool = False,
        truncate: bool = False,
    ) -> Fetched:
        """The body at ``target`` after at most ``max_redirects`` redirects, each hop
        admitted by the guard; :class:`FetchFailed` or :class:`Refused` otherwise.
        ``accept_status``: an HTTP error status is returned, not raised; ``truncate``: a
        body over ``max_bytes`` is cut there instead of refused."""
        first = target
        for hop in range(max_redirects + 1):
            try:
                admitted = await self._guard.admit(target)
            except Refused as exc:
                if hop == 0:
                    raise
                raise Refused(
                    f"{first.url} redirected to {target.url}. {exc}", kind=exc.kind
                ) from None
            if check is not None:
                await check(target)
            result = await self._hop(
                admitted,
                deadline=deadline,
                max_bytes=max_bytes,
                accept_status=accept_status,
                truncate=truncate,
            )
            if isinstance(result, Fetched):
                return dataclasses.replace(result, hops=hop)
            try:
                target = resolve_location(target, result)
            except BadUrl as exc:
                raise FetchFailed(
                    f"{target.url} redirects to a URL that is refused: {exc}",
                    kind=FetchFailureKind.URL_NOT_ALLOWED,
                ) from None
        raise TooManyRedirects(
            f"{target.url} redirected more than {max_redirects} times; the site may be in a "
            "redirect loop, or want cookies or a login the fetch tool does not keep."
        )

    async def _hop(
        self,
        admitted: Admitted,
        *,
        deadline: float,
        max_bytes: int,
        accept_status: bool,
        truncate: bool,
    ) -> Fetched | str:
        """The response of one hop, or the ``Location`` it redirects to."""
        target = admitted.target
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timed_out(target)
        headers = {"User-Agent": self._settings.user_agent} if self._settings.user_agent else {}
        session = self._session(admitted)
        try:
            response = await session.request(
                "GET",
                target.url,
                headers=headers,
                allow_redirects=False,
                timeout=remaining,
                stream=True,
            )
        except curl_errors.RequestException as exc:
            await session.close()
            raise _failure(target, exc) from None
        try:
            check_peer(admitted, response.primary_ip)
            status = response.status_code
            if status in REDIRECTS and response.headers.get("location"):
                return str(response.headers["location"])
            reason = str(response.reason or "")
            content_type = response.headers.get("content-type")
            if not 200 <= status < 300:
                if accept_status:
                    return Fetched(target, status, reason, content_type, b"", hops=0)
                raise FetchFailed(
                    _status_sentence(target, status, reason), kind=_status_kind(status)
                )
            declared = response.headers.get("content-length")
            too_big = declared is not None and declared.isdigit() and int(declared) > max_bytes
            if too_big and not truncate:
                raise FetchFailed(
                    _too_big(target, f"{int(declared):,} bytes", max_bytes),
                    kind=FetchFailureKind.TOO_LARGE,
                )
            body = await _read(response, target, max_bytes=max_bytes, truncate=truncate)
            return Fetched(target, status, reason, content_type, body, hops=0)
        finally:
            # Stop curl at its next write (a capped or refused body is not downloaded to
            # the end); a cancelled read leaves the transfer to end at its own timeout.
            if response.quit_now is not None:
                response.quit_now.set()
            if not _cancelling():
                await response.aclose()
                await session.close()


async def _read(response: Any, target: Target, *, max_bytes: int, truncate: bool) -> bytes:
    body = bytearray()
    try:
        async for chunk in response.aiter_content():
            body += chunk
            if len(body) > max_bytes:
                if truncate:
                    return bytes(body[:max_bytes])
                raise FetchFailed(
                    _too_big(target, f"more than {max_bytes:,} bytes", max_bytes),
                    kind=FetchFailureKind.TOO_LARGE,
                )
    except curl_errors.RequestException as exc:
        raise _failure(target, exc) from None
    return bytes(body)


def check_peer(admitted: Admitted, primary_ip: str) -> None:
    """The address curl connected to is one the guard checked (a second line of defence: a
    pin curl did not take would show here, before any of the body is read)."""
    try:
        peer = ipaddress.ip_address(primary_ip.split("%", 1)[0])
    except ValueError:
        peer = None
    if peer not in admitted.addresses:
        went = primary_ip or "an unknown address"
        raise Refused(
            f"Refused to read {admitted.target.url}: the connection went to {went}, not to an "
            "address the guard checked."
        )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _timed_out(target: Target) -> FetchFailed:
    return FetchFailed(
        f"Fetching {target.url} timed out; the site is slow or not answering. Try again "
        "later or try another source.",
        kind=FetchFailureKind.TIMEOUT,
    )


def _too_big(target: Target, size: str, limit: int) -> str:
    return (
        f"{target.url} is too big: {size}, over the fetch tool's limit of {limit:,} bytes. "
        "Look for a smaller page (a specific section, a raw text or API version)."
    )


def _status_sentence(target: Target, status: int, reason: str | None) -> str:
    said = f"{status} {reason}".strip() if reason else str(status)
    if status in (401, 403):
        hint = "the page needs a login or blocks automated clients; try another source."
    elif status == 404 or status == 410:
        hint = "the page does not exist; check the URL or search for the page."
    elif status == 429:
        hint = "the site is rate limiting; wait before trying again, or use another source."
    elif status >= 500:
        hint = "the site has a problem; try again later or use another source."
    else:
        hint = "check the URL."
    return f"The server answered {said} for {target.url}: {hint}"


def _status_kind(status: int) -> FetchFailureKind:
    """A server error may pass; any other status that is not 2xx is the page's answer."""
    if status >= 500:
        return FetchFailureKind.UNAVAILABLE
    return FetchFailureKind.URL_NOT_ACCESSIBLE


def _failure(target: Target, exc: Exception) -> FetchFailed:
    if isinstance(exc, curl_errors.Timeout):
        return _timed_out(target)
    if isinstance(exc, curl_errors.CertificateVerifyError):
        return FetchFailed(
            f"The TLS certificate of {target.host} could not be verified, so {target.url} "
            "was not fetched; use another source.",
            kind=FetchFailureKind.UNAVAILABLE,
        )
    if isinstance(exc, curl_errors.SSLError):
        return FetchFailed(
            f"The TLS handshake with {target.host} failed; use another source.",
            kind=FetchFailureKind.UNAVAILABLE,
        )
    if isinstance(exc, curl_errors.ConnectionError):
        return FetchFailed(
            f"Could not connect to {target.netloc} for {target.url}; the site may be down. "
            "Check the URL or try again later.",
            kind=FetchFailureKind.UNAVAILABLE,
        )
    return FetchFailed(
        f"Fetching {target.url} failed ({_brief(exc)}); try again or use another source.",
        kind=FetchFailureKind.UNAVAILABLE,
    )


def _brief(exc: Exception) -> str:
    text = str(exc).split(". See ", 1)[0]
    return text[:200] or type(exc).__name__


__all__ = ["FetchFailed", "FetchFailure", "Fetched", "HttpClient", "Refused", "TooManyRedirects"]
