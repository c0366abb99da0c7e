"""The static engine: an OpenAI-compatible server someone else runs; health-checked only.

The daemon cannot start or stop such a server. "Starting" it means waiting until it answers its
health check; while it does not, the engine keeps polling and reports why in its progress, and
the scaler ends the wait by cancelling when the recipe's wake budget runs out (the last
progress detail, ``<name> not answering at <url>: <why>``, is then the reason to show).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable

import aiohttp
from yarl import URL

from autosred.config import ConfigError, EngineSettings
from autosred.engines.base import Observation, Observed, Ready, WakeProgress
from autosred.engines.health import DEFAULT_TIMEOUT, HealthChecker, health_url
from autosred.recipes import Recipe


def _parse_base_url(raw: str, *, where: str) -> URL:
    url = URL(raw)
    if url.scheme not in {"http", "https"} or not url.host:
        raise ConfigError([f"{where}: {raw!r} is not an http(s) URL such as http://127.0.0.1:8000"])
    path = url.path.rstrip("/")
    if path.endswith("/v1"):
        # The proxy appends /v1/... itself; a base ending in /v1 would end up at /v1/v1/...
        raise ConfigError([f"{where}: {raw!r} ends in /v1; give the server's base URL without it"])
    return url.with_path(path or "/").with_query(None).with_fragment(None)


class StaticEngine:
    """Fronts servers at fixed URLs: ``recipe.url``, else ``engine.url``."""

    kind = "static"

    def __init__(
        self,
        *,
        settings: EngineSettings,
        log: logging.Logger,
        recipes: Iterable[Recipe] = (),
        session: aiohttp.ClientSession | None = None,
        health_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Raises ConfigError when a URL is malformed, or when ``recipes`` names one that has
        no URL while ``engine.url`` is unset (recipes loaded later are checked at ``start``)."""
        self._settings = settings
        self._log = log
        self._health = HealthChecker(session=session, timeout=health_timeout)
        self._default = _parse_base_url(settings.url, where="engine.url") if settings.url else None
        errors: list[str] = []
        for recipe in recipes:
            try:
                self.endpoint(recipe)
            except ConfigError as exc:
                errors += exc.messages
        if errors:
            raise ConfigError(errors)

    def endpoint(self, recipe: Recipe) -> URL:
        if recipe.url:
            return _parse_base_url(recipe.url, where=f"recipe {recipe.name}: url")
        if self._default is None:
            raise ConfigError(
                [
                    f"recipe {recipe.name}: the static engine needs a URL: set url in the "
                    "recipe or engine.url in the configuration"
                ]
            )
        return self._default

    async def start(self, recipe: Recipe) -> AsyncGenerator[WakeProgress, None]:
        base = self.endpoint(recipe)
        target = health_url(base, self._settings.health_path)
        self._log.info(
            "engine.static_waiting", extra={"fields": {"model": recipe.name, "url": str(base)}}
        )
        last_reason: str | None = None
        while True:
            health = await self._health.check(target)
            if health.ok:
                self._log.info(
                    "engine.static_ready",
                    extra={"fields": {"model": recipe.name, "url": str(base)}},
                )
                yield Ready("health", f"{target} answered 200", url=base)
                return
            # Report each new reason once: progress is for people, not a heartbeat.
            if health.reason != last_reason:
                last_reason = health.reason
                self._log.info(
                    "engine.static_not_ready",
                    extra={
                        "fields": {
                            "model": recipe.name,
                            "url": str(target),
                            "reason": health.reason,
                        }
                    },
                )
                yield WakeProgress(
                    "health", f"{recipe.name} not answering at {target}: {health.reason}"
                )
            await asyncio.sleep(self._settings.health_interval)

    async def stop(self, recipe: Recipe) -> None:
        self._log.info(
            "engine.static_not_stopped",
            extra={"fields": {"model": recipe.name, "why": "run by someone else"}},
        )

    async def observe(self, recipe: Recipe) -> Observation:
        base = self.endpoint(recipe)
        health = await self._health.check(health_url(base, self._settings.health_path))
        if health.ok:
            return Observation(Observed.RUNNING, f"answering at {base}", endpoint=base)
        return Observation(Observed.STOPPED, f"not answering at {base}: {health.reason}")

    async def aclose(self) -> None:
        await self._health.aclose()
