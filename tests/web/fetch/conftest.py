from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from autosred.config import FetchSettings
from autosred.web.service import WebService
from tests.web.fetch.fixtures import ca, extraction_pool
from tests.web.fetch.sites import SiteCA

__all__ = ["ServiceFactory", "ca", "extraction_pool"]

ServiceFactory = Callable[..., WebService]


@pytest.fixture
async def make_service(
    ca: SiteCA, extraction_pool: ProcessPoolExecutor
) -> AsyncIterator[ServiceFactory]:
    """A WebService fetching on test settings: loopback opened, robots.txt off, the test CA
    trusted (each overridable); every service made is closed after the test."""
    made: list[WebService] = []

    def build(resolver: Any = None, **overrides: Any) -> WebService:
        values: dict[str, Any] = {
            "allow": ["127.0.0.0/8"],
            "robots": False,
            "ca_bundle": str(ca.bundle),
            "timeout": 10,
        }
        values.update(overrides)
        settings = FetchSettings(**values)
        seams: dict[str, Any] = {"executor": extraction_pool}
        if resolver is not None:
            seams["resolver"] = resolver
        service = WebService(fetch=settings, **seams)
        made.append(service)
        return service

    yield build
    for service in made:
        await service.close()
