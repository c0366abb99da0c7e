from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from autosred.config import FetchSettings
from autosred.mcp.fetch import FetchTools
from tests.web.fetch.fixtures import ca, extraction_pool
from tests.web.fetch.sites import SiteCA

__all__ = ["ToolFactory", "ca", "extraction_pool"]

ToolFactory = Callable[..., FetchTools]


@pytest.fixture
async def make_tool(ca: SiteCA, extraction_pool: ProcessPoolExecutor) -> AsyncIterator[ToolFactory]:
    """FetchTools on test settings: loopback opened, robots.txt off, the test CA trusted
    (each overridable); every tool made is closed after the test."""
    made: list[FetchTools] = []

    def build(resolver: Any = None, **overrides: Any) -> FetchTools:
        values: dict[str, Any] = {
            "allow": ["127.0.0.0/8"],
            "robots": False,
            "ca_bundle": str(ca.bundle),
            "timeout": 10,
        }
        values.update(overrides)
        settings = FetchSettings(**values)
        if resolver is None:
            tool = FetchTools(settings, executor=extraction_pool)
        else:
            tool = FetchTools(settings, resolver=resolver, executor=extraction_pool)
        made.append(tool)
        return tool

    yield build
    for tool in made:
        await tool.close()
