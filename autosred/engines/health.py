"""One health check of a model server, shared by the engines that poll one.

A check is a plain ``GET`` with short timeouts: a server that is loading a model either refuses
the connection (vLLM binds its port only once the model is loaded) or answers non-200, and the
caller polls again after ``engine.health_interval``. A check never raises for network trouble;
it returns why the server is not ready, in words fit for a progress line.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import aiohttp
from yarl import URL

DEFAULT_TIMEOUT = 2.0
"""Seconds one check may take. Short: a poll that hangs would hide progress, and the next poll
comes soon anyway."""


@dataclass(frozen=True)
class Health:
    """The outcome of one check: ``ok`` only on HTTP 200."""

    ok: bool
    reason: str
    """Why not ready (``connection refused``, ``HTTP 503``); ``HTTP 200`` when ok."""
    status: int | None = None
    """The HTTP status, or None when nothing answered (the server is not listening yet)."""


def health_url(base: URL, path: str) -> URL:
    """``http://h:8000`` + ``/health`` -> ``http://h:8000/health``, keeping a base path."""
    return base.with_path(base.path.rstrip("/") + "/" + path.lstrip("/"))


class HealthChecker:
    """Checks URLs with one aiohttp session: the one passed in, or one it opens and closes.

    An engine owns one checker, so two engines in one process share nothing.
    """

    def __init__(
        self, *, session: aiohttp.ClientSession | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 1.0))
        self._timeout_s = timeout

    def _client(self) -> aiohttp.ClientSession:
        # Opened lazily: a ClientSession must be created inside the running loop, and engines
        # are constructed before it in the composition root.
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
        return self._session

    async def check(self, url: URL) -> Health:
        try:
            async with self._client().get(
                url, timeout=self._timeout, allow_redirects=False
            ) as response:
                await response.read()
                if response.status == 200:
                    return Health(ok=True, reason="HTTP 200", status=200)
                return Health(ok=False, reason=f"HTTP {response.status}", status=response.status)
        except aiohttp.ClientConnectorError as exc:
            # The usual answer while a server loads: say it the way an operator would.
            return Health(ok=False, reason=_connect_failure(exc.os_error))
        except TimeoutError:
            return Health(ok=False, reason=f"no answer within {self._timeout_s:g}s")
        except aiohttp.ClientError as exc:
            return Health(ok=False, reason=str(exc) or type(exc).__name__)

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


def _connect_failure(error: OSError) -> str:
    # asyncio's message ("Connect call failed ('127.0.0.1', 8000)") repeats the URL the caller
    # already shows; the errno's text is what an operator recognises.
    if isinstance(error, socket.gaierror):
        return f"cannot resolve host: {error.strerror}"
    if error.errno:
        return os.strerror(error.errno).lower()
    return str(error) or type(error).__name__
