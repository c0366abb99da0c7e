"""Reading the running model servers' ``/metrics``: on demand, shared, with a short timeout.

Nothing polls: a watch frame or a scrape of the daemon's ``/metrics`` asks ``refresh`` for the
models running now, and a reading younger than ``max_age`` is reused, so any number of watchers
and scrapers cost one read per server per ``max_age``. A model that is not running is
forgotten (its history too): a model at zero costs nothing. A read that fails or times out
leaves the model without a reading (nothing stale is shown or exported) and is logged once
per change of reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from prometheus_client import Metric

from autosred.servermetrics.figures import (
    SAMPLES,
    WINDOW_SECONDS,
    Figures,
    Totals,
    figures,
    restarted,
)
from autosred.servermetrics.figures import totals as totals_of
from autosred.servermetrics.parse import MAX_BYTES, PREFIX, ExpositionError, parse, select

READ_TIMEOUT = 1.0
"""Seconds a read may take, connection included: a scrape or a frame waits at most this."""
MAX_AGE = 1.0
"""A reading younger than this is reused."""


class ReadFailed(Exception):
    pass


@dataclass
class _Server:
    endpoint: str
    text: str | None = None
    """The newest reading's vLLM lines; None when the last read failed."""
    families: list[Metric] | None = None
    """``text`` parsed in full, when a scrape first asks for it (most readings are a watch
    frame's, which parses only the few lines of its figures)."""
    read_at: float = -1e9
    """Monotonic time of the last read, failed or not."""
    history: deque[tuple[float, Totals]] = field(default_factory=deque)
    reading: asyncio.Task[None] | None = None
    failure: str | None = None


class ServerMetricsReader:
    def __init__(
        self,
        *,
        log: logging.Logger,
        timeout: float = READ_TIMEOUT,
        max_age: float = MAX_AGE,
        path: str = "/metrics",
    ) -> None:
        self._log = log
        self._timeout = timeout
        self._max_age = max_age
        self._path = path
        self._servers: dict[str, _Server] = {}
        self._session: aiohttp.ClientSession | None = None

    async def refresh(self, endpoints: Mapping[str, str]) -> None:
        """Read each running model's server (model name -> base URL) unless read within
        ``max_age``; forget every other model."""
        for name in [n for n, s in self._servers.items() if endpoints.get(n) != s.endpoint]:
            # Stopped, or moved (a replaced pod): its readings describe another server.
            self._drop(name)
        now = time.monotonic()
        waits = []
        for name, endpoint in endpoints.items():
            server = self._servers.setdefault(name, _Server(endpoint))
            if server.reading is None and now - server.read_at >= self._max_age:
                server.reading = asyncio.create_task(
                    self._read(name, server), name=f"servermetrics.read:{name}"
                )
            if server.reading is not None:
                waits.append(server.reading)
        if waits:
            # shield: a caller that goes away (a watcher leaving) does not cancel a read
            # another caller shares.
            await asyncio.wait([asyncio.shield(task) for task in waits])

    def figures(self, model: str) -> Figures | None:
        """The model's figures, None when it is not running or its last read failed."""
        server = self._servers.get(model)
        if server is None or server.text is None:
            return None
        return figures(server.history)

    def families(self) -> dict[str, list[Metric]]:
        """Each running model's newest families (models whose last read failed left out)."""
        result = {}
        for name, server in self._servers.items():
            if server.text is None:
                continue
            if server.families is None:
                try:
                    server.families = parse(server.text)
                except ExpositionError as exc:
                    self._failed(name, server, str(exc))
                    server.text = None
                    continue
            result[name] = server.families
        return result

    async def aclose(self) -> None:
        for name in list(self._servers):
            self._drop(name)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _drop(self, name: str) -> None:
        server = self._servers.pop(name)
        if server.reading is not None:
            server.reading.cancel()

    async def _read(self, name: str, server: _Server) -> None:
        try:
            text = select(await self._fetch(server.endpoint), (PREFIX,))
            reading = totals_of(parse(select(text, SAMPLES)))
        except ExpositionError as exc:
            self._failed(name, server, str(exc))
        except ReadFailed as exc:
            self._failed(name, server, str(exc))
        else:
            if server.failure is not None:
                server.failure = None
                self._log.info("servermetrics.read_recovered", extra={"fields": {"model": name}})
            server.text, server.families = text, None
            self._remember(server, reading)
        finally:
            server.read_at = time.monotonic()
            server.reading = None

    def _failed(self, name: str, server: _Server, reason: str) -> None:
        server.text = server.families = None
        if server.failure != reason:
            server.failure = reason
            self._log.warning(
                "servermetrics.read_failed",
                extra={"fields": {"model": name, "url": server.endpoint, "reason": reason}},
            )

    def _remember(self, server: _Server, reading: Totals) -> None:
        now = time.monotonic()
        history = server.history
        if history and restarted(history[-1][1], reading):
            history.clear()
        history.append((now, reading))
        # Keep one reading older than the window, so the rates span all of it.
        while len(history) > 2 and history[1][0] <= now - WINDOW_SECONDS:
            history.popleft()

    async def _fetch(self, endpoint: str) -> str:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit_per_host=2),
            )
        url = endpoint.rstrip("/") + self._path
        try:
            async with session.get(url) as response:
                if response.status != 200:
                    raise ReadFailed(f"HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise ReadFailed(f"body over {MAX_BYTES} bytes")
            return body.decode("utf-8", errors="replace")
        except TimeoutError:
            raise ReadFailed(f"no answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise ReadFailed(f"{type(exc).__name__}: {exc}") from None
